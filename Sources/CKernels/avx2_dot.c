// AVX2 vec_dot kernels (one weight row against one activation row), used for decoding (matvec),
// where speed is set by how fast weights stream from memory. Structure follows ggml's AVX2 kernels.
#include "avx2.h"
#if defined(__x86_64__)

// Legacy dots: one block's contribution as (scale, products) vectors; the loops take two blocks
// per step into two accumulators so that consecutive blocks don't wait on each other's FMA.
#define LEGACY_DOT(NAME, WBLOCK, ABLOCK, BODY, MINS)                                                \
  static AVX2 void NAME(int n, float *s, const void *vx, const void *vy) {                         \
    const WBLOCK *x = vx; const ABLOCK *y = vy;                                                     \
    const int nb = n / HK_QK;                                                                       \
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();                                 \
    float summs = 0;                                                                                \
    int i = 0;                                                                                      \
    for (; i + 2 <= nb; i += 2) {                                                                   \
      { const int b = i; BODY(acc0); MINS; }                                                        \
      { const int b = i + 1; BODY(acc1); MINS; }                                                    \
    }                                                                                               \
    if (i < nb) { const int b = i; BODY(acc0); MINS; }                                              \
    *s = hsum_ps(_mm256_add_ps(acc0, acc1)) + summs;                                                \
  }

#define NO_MINS (void)0
#define WITH_MINS summs += hk_fp16_to_f32(x[b].m) * hk_fp16_to_f32(y[b].s)
#define SCALE _mm256_mul_ps(fp16x(x[b].d), fp16x(y[b].d))
#define QY _mm256_loadu_si256((const __m256i *)y[b].qs)

#define BODY_Q4_0(ACC) ACC = _mm256_fmadd_ps(SCALE, _mm256_cvtepi32_ps(dot_i8_i32(_mm256_sub_epi8(nibbles32(x[b].qs), _mm256_set1_epi8(8)), QY)), ACC)
#define BODY_Q4_1(ACC) ACC = _mm256_fmadd_ps(SCALE, _mm256_cvtepi32_ps(dot_u8_i32(nibbles32(x[b].qs), QY)), ACC)
// Q5_0: q - 16 as a signed byte is nibble | 0xF0 where the fifth bit is clear.
#define BODY_Q5_0(ACC) ACC = _mm256_fmadd_ps(SCALE, _mm256_cvtepi32_ps(dot_i8_i32(_mm256_or_si256(nibbles32(x[b].qs), \
    _mm256_andnot_si256(bits32(x[b].qh), _mm256_set1_epi8((char)0xF0))), QY)), ACC)
#define BODY_Q5_1(ACC) ACC = _mm256_fmadd_ps(SCALE, _mm256_cvtepi32_ps(dot_u8_i32(_mm256_or_si256(nibbles32(x[b].qs), \
    _mm256_and_si256(bits32(x[b].qh), _mm256_set1_epi8(0x10))), QY)), ACC)
#define BODY_Q8_0(ACC) ACC = _mm256_fmadd_ps(SCALE, _mm256_cvtepi32_ps(dot_i8_i32(_mm256_loadu_si256((const __m256i *)x[b].qs), QY)), ACC)

LEGACY_DOT(dot_q4_0, hk_block_q4_0, hk_block_q8_0, BODY_Q4_0, NO_MINS)
LEGACY_DOT(dot_q4_1, hk_block_q4_1, hk_block_q8_1, BODY_Q4_1, WITH_MINS)
LEGACY_DOT(dot_q5_0, hk_block_q5_0, hk_block_q8_0, BODY_Q5_0, NO_MINS)
LEGACY_DOT(dot_q5_1, hk_block_q5_1, hk_block_q8_1, BODY_Q5_1, WITH_MINS)
LEGACY_DOT(dot_q8_0, hk_block_q8_0, hk_block_q8_0, BODY_Q8_0, NO_MINS)

// The 8 scales and 8 mins of a Q4_K/Q5_K block as 16 uint8 (scales first), ggml's bit shuffle.
static inline void unpack_scales_k4(const uint8_t *packed, uint32_t out[4]) {
  const uint32_t kmask1 = 0x3f3f3f3f, kmask2 = 0x0f0f0f0f, kmask3 = 0x03030303;
  memcpy(out, packed, 12);
  out[3] = ((out[2] >> 4) & kmask2) | (((out[1] >> 6) & kmask3) << 4);
  const uint32_t uaux = out[1] & kmask1;
  out[1] = (out[2] & kmask2) | (((out[0] >> 6) & kmask3) << 4);
  out[2] = uaux;
  out[0] &= kmask1;
}

// Shared body of the Q4_K and Q5_K dots; HIGH adds each value's fifth bit from qh.
#define DOT_K4(NAME, BLOCK, HIGH)                                                                   \
  static AVX2 void NAME(int n, float *s, const void *vx, const void *vy) {                          \
    const BLOCK *x = vx; const hk_block_q8_K *y = vy;                                               \
    const __m256i m4 = _mm256_set1_epi8(0xF);                                                       \
    __m256 acc = _mm256_setzero_ps();                                                               \
    __m128 acc_m = _mm_setzero_ps();                                                                \
    for (int i = 0; i < n / HK_QK_K; i++) {                                                         \
      const float d = y[i].d * hk_fp16_to_f32(x[i].d);                                              \
      const float dmin = -y[i].d * hk_fp16_to_f32(x[i].dmin);                                       \
      uint32_t u[4];                                                                                \
      unpack_scales_k4(x[i].scales, u);                                                             \
      const __m256i mins_scales = _mm256_cvtepu8_epi16(_mm_set_epi32((int)u[3], (int)u[2], (int)u[1], (int)u[0])); \
      const __m256i bsums = _mm256_loadu_si256((const __m256i *)y[i].bsums);                        \
      const __m128i sums32 = _mm_hadd_epi16(_mm256_castsi256_si128(bsums), _mm256_extracti128_si256(bsums, 1)); \
      const __m128i prod = _mm_madd_epi16(_mm256_extracti128_si256(mins_scales, 1), sums32);        \
      acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), acc_m);                        \
      const __m128i sc128 = _mm256_castsi256_si128(mins_scales);                                    \
      const __m256i scales = _mm256_set_m128i(sc128, sc128);                                        \
      const uint8_t *q4 = x[i].qs; const int8_t *q8 = y[i].qs;                                      \
      __m256i sumi = _mm256_setzero_si256();                                                        \
      __m256i hb = HIGH ? _mm256_loadu_si256((const __m256i *)((const hk_block_q5_K *)(const void *)&x[i])->qh) : _mm256_setzero_si256(); \
      for (int j = 0; j < 4; j++) {                                                                 \
        const __m256i scale_l = _mm256_shuffle_epi8(scales, _mm256_set1_epi16((short)((4 * j + 1) << 8 | 4 * j))); \
        const __m256i scale_h = _mm256_shuffle_epi8(scales, _mm256_set1_epi16((short)((4 * j + 3) << 8 | (4 * j + 2)))); \
        const __m256i bits = _mm256_loadu_si256((const __m256i *)q4); q4 += 32;                     \
        __m256i ql = _mm256_and_si256(bits, m4);                                                    \
        __m256i qh = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);                              \
        if (HIGH) {                                                                                 \
          const __m256i one = _mm256_set1_epi8(1);                                                  \
          ql = _mm256_or_si256(ql, _mm256_slli_epi16(_mm256_and_si256(hb, one), 4));                \
          qh = _mm256_or_si256(qh, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 1), one), 4)); \
          hb = _mm256_srli_epi16(hb, 2);                                                            \
        }                                                                                           \
        __m256i pl = _mm256_maddubs_epi16(ql, _mm256_loadu_si256((const __m256i *)q8)); q8 += 32;   \
        __m256i ph = _mm256_maddubs_epi16(qh, _mm256_loadu_si256((const __m256i *)q8)); q8 += 32;   \
        sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(_mm256_madd_epi16(scale_l, pl), _mm256_madd_epi16(scale_h, ph))); \
      }                                                                                             \
      acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);                      \
    }                                                                                               \
    *s = hsum_ps(acc) + hsum_ps128(acc_m);                                                          \
  }

DOT_K4(dot_q4_K, hk_block_q4_K, 0)
DOT_K4(dot_q5_K, hk_block_q5_K, 1)

static AVX2 void dot_q6_K(int n, float *s, const void *vx, const void *vy) {
  const hk_block_q6_K *x = vx; const hk_block_q8_K *y = vy;
  const __m256i m4 = _mm256_set1_epi8(0xF), m2 = _mm256_set1_epi8(3), m32s = _mm256_set1_epi8(32);
  __m256 acc = _mm256_setzero_ps();
  for (int i = 0; i < n / HK_QK_K; i++) {
    const float d = y[i].d * hk_fp16_to_f32(x[i].d);
    const uint8_t *ql = x[i].ql, *qh = x[i].qh;
    const int8_t *q8 = y[i].qs;
    const __m128i scales = _mm_loadu_si128((const __m128i *)x[i].scales);
    __m256i sumi = _mm256_setzero_si256();
    for (int c = 0; c < 2; c++) {
      const __m256i hbits = _mm256_loadu_si256((const __m256i *)qh); qh += 32;
      const __m256i b1 = _mm256_loadu_si256((const __m256i *)ql);
      const __m256i b2 = _mm256_loadu_si256((const __m256i *)(ql + 32)); ql += 64;
      __m256i q[4];
      q[0] = _mm256_or_si256(_mm256_and_si256(b1, m4), _mm256_slli_epi16(_mm256_and_si256(hbits, m2), 4));
      q[1] = _mm256_or_si256(_mm256_and_si256(b2, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2), m2), 4));
      q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b1, 4), m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 4), m2), 4));
      q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b2, 4), m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 6), m2), 4));
      for (int k = 0; k < 4; k++) {
        const __m256i a = _mm256_loadu_si256((const __m256i *)q8); q8 += 32;
        // (q - 32) * a == q * a - 32 * a; both products fit maddubs' int16 lanes.
        __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q[k], a), _mm256_maddubs_epi16(m32s, a));
        const long long g = 8 * c + 2 * k;
        const __m128i pick = _mm_set_epi64x(0x0101010101010101LL * (g + 1), 0x0101010101010101LL * g);
        const __m256i sc = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales, pick));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(sc, p));
      }
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
  }
  *s = hsum_ps(acc);
}

// ---- float rows ----------------------------------------------------------------------------

static AVX2 float dot_f32_f32(int n, const float *a, const float *b) {
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  int i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
  }
  for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  float s = hsum_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for (; i < n; i++) s += a[i] * b[i];
  return s;
}

static AVX2 void dot_f32(int n, float *s, const void *x, const void *y) { *s = dot_f32_f32(n, x, y); }

static AVX2 void dot_f16(int n, float *s, const void *vx, const void *vy) {
  const hk_half *x = vx; const float *y = vy;
  __m256 s0 = _mm256_setzero_ps(), s1 = s0;
  int i = 0;
  // The vector conversion has none of the scalar one's scheduling problem.
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))), _mm256_loadu_ps(y + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i + 8))), _mm256_loadu_ps(y + i + 8), s1);
  }
  float sum = hsum_ps(_mm256_add_ps(s0, s1));
  for (; i < n; i++) sum += hk_fp16_to_f32(x[i]) * y[i];
  *s = sum;
}

static AVX2 void dot_bf16(int n, float *s, const void *vx, const void *vy) {
  const uint16_t *x = vx; const float *y = vy;
  __m256 s0 = _mm256_setzero_ps(), s1 = s0;
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256i a = _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(x + i))), 16);
    __m256i b = _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(x + i + 8))), 16);
    s0 = _mm256_fmadd_ps(_mm256_castsi256_ps(a), _mm256_loadu_ps(y + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_castsi256_ps(b), _mm256_loadu_ps(y + i + 8), s1);
  }
  float sum = hsum_ps(_mm256_add_ps(s0, s1));
  for (; i < n; i++) {
    uint32_t u = (uint32_t)x[i] << 16; float f; memcpy(&f, &u, 4);
    sum += f * y[i];
  }
  *s = sum;
}

static AVX2 void axpy_f32(int n, float a, const float *x, float *y) {
  const __m256 va = _mm256_set1_ps(a);
  int i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; i++) y[i] += a * x[i];
}

static AVX2 void scale_f32(int n, float a, float *y) {
  const __m256 va = _mm256_set1_ps(a);
  int i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(va, _mm256_loadu_ps(y + i)));
  for (; i < n; i++) y[i] *= a;
}

void hk_avx2_fill_quantize(hk_kernels *k);
void hk_avx2_fill_gemm(hk_kernels *k);

void hk_avx2_fill(hk_kernels *k) {
  k->level = HK_LEVEL_AVX2;
  k->vec_dot[HK_Q4_0] = dot_q4_0;
  k->vec_dot[HK_Q4_1] = dot_q4_1;
  k->vec_dot[HK_Q5_0] = dot_q5_0;
  k->vec_dot[HK_Q5_1] = dot_q5_1;
  k->vec_dot[HK_Q8_0] = dot_q8_0;
  k->vec_dot[HK_Q4_K] = dot_q4_K;
  k->vec_dot[HK_Q5_K] = dot_q5_K;
  k->vec_dot[HK_Q6_K] = dot_q6_K;
  k->vec_dot[HK_F32] = dot_f32;
  k->vec_dot[HK_F16] = dot_f16;
  k->vec_dot[HK_BF16] = dot_bf16;
  k->dot_f32 = dot_f32_f32;
  k->axpy_f32 = axpy_f32;
  k->scale_f32 = scale_f32;
  hk_avx2_fill_quantize(k);
  hk_avx2_fill_gemm(k);
  hk_avx2_fill_q16(k);
  hk_avx2_fill_attention(k);
}
#else
void hk_avx2_fill(hk_kernels *k) { (void)k; }
#endif
