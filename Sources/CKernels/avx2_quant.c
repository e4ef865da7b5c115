// AVX2 activation quantization. Same arithmetic as the reference quantizers (d = amax / 127,
// id = 1 / d, round half away from zero; Q8_K rounds half to even like ggml's nearest_int), so
// the bytes produced are identical to the scalar path's.
#include "avx2.h"
#if defined(__x86_64__)

/// roundf for each lane: truncate, then step away from zero when the dropped part is >= 0.5.
AVX2_INLINE __m256i round_away(__m256 v) {
  __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  __m256 big = _mm256_cmp_ps(abs_ps(_mm256_sub_ps(v, t)), _mm256_set1_ps(0.5f), _CMP_GE_OQ);
  __m256 step = _mm256_or_ps(_mm256_and_ps(v, _mm256_set1_ps(-0.0f)), _mm256_set1_ps(1.0f));
  return _mm256_cvttps_epi32(_mm256_add_ps(t, _mm256_and_ps(big, step)));
}

/// Four vectors of 8 int32 (each within int8 range) -> 32 int8 in order.
AVX2_INLINE __m256i pack32(__m256i a, __m256i b, __m256i c, __m256i d) {
  __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
  __m256i all = _mm256_packs_epi16(ab, cd);
  return _mm256_permutevar8x32_epi32(all, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/// Quantizes one block of 32; returns the sum of the quants (for Q8_1) and the f32 scale.
AVX2_INLINE int quant_block32(const float *x, hk_half *dst_d, int8_t *qs, float *d_out) {
  __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8), v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
  __m256 m = _mm256_max_ps(_mm256_max_ps(abs_ps(v0), abs_ps(v1)), _mm256_max_ps(abs_ps(v2), abs_ps(v3)));
  const float amax = hmax_ps(m);
  const float d = amax / 127, id = d != 0 ? 1.0f / d : 0.0f;
  *dst_d = hk_f32_to_fp16(d);
  *d_out = d;
  const __m256 vid = _mm256_set1_ps(id);
  __m256i i0 = round_away(_mm256_mul_ps(v0, vid)), i1 = round_away(_mm256_mul_ps(v1, vid));
  __m256i i2 = round_away(_mm256_mul_ps(v2, vid)), i3 = round_away(_mm256_mul_ps(v3, vid));
  _mm256_storeu_si256((__m256i *)qs, pack32(i0, i1, i2, i3));
  __m256i s = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
  __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
  s4 = _mm_hadd_epi32(s4, s4);
  s4 = _mm_hadd_epi32(s4, s4);
  return _mm_cvtsi128_si32(s4);
}

static AVX2 void quantize_q8_0(const float *x, void *vy, int n) {
  hk_block_q8_0 *y = vy;
  float d;
  for (int i = 0; i < n / HK_QK; i++) quant_block32(x + i * HK_QK, &y[i].d, y[i].qs, &d);
}

static AVX2 void quantize_q8_1(const float *x, void *vy, int n) {
  hk_block_q8_1 *y = vy;
  for (int i = 0; i < n / HK_QK; i++) {
    float d;
    int sum = quant_block32(x + i * HK_QK, &y[i].d, y[i].qs, &d);
    // s is sum * d with d in f32 (before its rounding to fp16), as the reference computes it.
    y[i].s = hk_f32_to_fp16((float)sum * d);
  }
}

static AVX2 void quantize_q8_K(const float *x, void *vy, int n) {
  hk_block_q8_K *y = vy;
  for (int i = 0; i < n / HK_QK_K; i++, x += HK_QK_K) {
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < HK_QK_K; j += 8) m = _mm256_max_ps(m, abs_ps(_mm256_loadu_ps(x + j)));
    const float amax = hmax_ps(m);
    if (amax == 0) { memset(&y[i], 0, sizeof y[i]); continue; }
    // The reference keeps the sign of the first element of largest magnitude.
    float max = 0;
    for (int j = 0; j < HK_QK_K; j++) if (__builtin_fabsf(x[j]) == amax) { max = x[j]; break; }
    const float iscale = -127.f / max;
    const __m256 vs = _mm256_set1_ps(iscale);
    const __m256i top = _mm256_set1_epi32(127);
    for (int j = 0; j < HK_QK_K; j += 32) {
      // cvtps rounds half to even under the default MXCSR, as nearest_int does.
      __m256i i0 = _mm256_min_epi32(top, _mm256_cvtps_epi32(_mm256_mul_ps(vs, _mm256_loadu_ps(x + j))));
      __m256i i1 = _mm256_min_epi32(top, _mm256_cvtps_epi32(_mm256_mul_ps(vs, _mm256_loadu_ps(x + j + 8))));
      __m256i i2 = _mm256_min_epi32(top, _mm256_cvtps_epi32(_mm256_mul_ps(vs, _mm256_loadu_ps(x + j + 16))));
      __m256i i3 = _mm256_min_epi32(top, _mm256_cvtps_epi32(_mm256_mul_ps(vs, _mm256_loadu_ps(x + j + 24))));
      __m256i q = pack32(i0, i1, i2, i3);
      _mm256_storeu_si256((__m256i *)(y[i].qs + j), q);
      // Sums of each 16: pairwise byte sums, then pairs of those, then fold within each half.
      __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q), _mm256_set1_epi16(1));
      __m128i lo = _mm256_castsi256_si128(s), hi = _mm256_extracti128_si256(s, 1);
      __m128i h = _mm_hadd_epi32(lo, hi);  // [a01 a23 b01 b23]
      h = _mm_hadd_epi32(h, h);            // [a b a b]
      y[i].bsums[j / 16] = (int16_t)_mm_cvtsi128_si32(h);
      y[i].bsums[j / 16 + 1] = (int16_t)_mm_extract_epi32(h, 1);
    }
    y[i].d = 1 / iscale;
  }
}

void hk_avx2_fill_quantize(hk_kernels *k) {
  k->quantize[HK_Q8_0] = quantize_q8_0;
  k->quantize[HK_Q8_1] = quantize_q8_1;
  k->quantize[HK_Q8_K] = quantize_q8_K;
}
#endif
