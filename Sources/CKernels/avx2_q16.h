// Helpers shared by the AVX2 Q16 kernels (decode dots and the gemm): each weight format unpacked
// into int16 lanes, ready for `vpmaddwd` against int16 activations, in Q16's order within a
// group of 32: `e` holds elements 0, 2, ..., 30 and `o` elements 1, 3, ..., 31.
#ifndef HEARTH_CKERNELS_AVX2_Q16_H
#define HEARTH_CKERNELS_AVX2_Q16_H
#include "avx2.h"
#if defined(__x86_64__)

// The fill functions' names, one pair per level built from these files.
#if HK_VNNI
#define HK_Q16_FILL hk_vnni_fill_q16
#define HK_Q16_FILL_GEMM hk_vnni_fill_gemm_q16
#else
#define HK_Q16_FILL hk_avx2_fill_q16
#define HK_Q16_FILL_GEMM hk_avx2_fill_gemm_q16
#endif

/// The pieces of a Q16 activation row of n values: values, group scales, group sums.
#define Q16_ROW(vy, n)                                                 \
  const int16_t *aq = (const int16_t *)(vy);                           \
  const float *ad = (const float *)(aq + (n)), *as = ad + (n) / HK_QK

static inline int32_t load_i32(const void *p) { int32_t v; memcpy(&v, p, 4); return v; }

/// Σ over one group of 32: weights e (even elements) and o (odd elements) against the group's
/// activations, which Q16 stores in the same order; 8 int32 lanes.
AVX2_INLINE __m256i dot_eo(__m256i e, __m256i o, const int16_t *a) {
  return madd_acc(_mm256_madd_epi16(e, _mm256_loadu_si256((const __m256i *)a)), o,
                  _mm256_loadu_si256((const __m256i *)(a + 16)));
}

/// For four vectors: [Σ low half of x0, .. of x1, x2, x3 | Σ high half of x0, x1, x2, x3] (each
/// half is 4 int32 lanes). In-lane shuffles only: `vphaddd` costs two cycles here (Zen 3).
AVX2_INLINE __m256i sum4_halves(__m256i x0, __m256i x1, __m256i x2, __m256i x3) {
  const __m256i a = _mm256_add_epi32(_mm256_unpacklo_epi32(x0, x1), _mm256_unpackhi_epi32(x0, x1));
  const __m256i b = _mm256_add_epi32(_mm256_unpacklo_epi32(x2, x3), _mm256_unpackhi_epi32(x2, x3));
  return _mm256_add_epi32(_mm256_unpacklo_epi64(a, b), _mm256_unpackhi_epi64(a, b));
}

// Weights are unpacked straight into Q16's group order (even elements, then odd) with shifts and
// masks on 16-bit words: a word holds two consecutive bytes, i.e. one even and one odd element,
// so no byte widening (`vpmovzxbw`, slow here) is needed.

/// 32 signed bytes (element i in byte i) -> even and odd elements as int16.
AVX2_INLINE void eo_i8(__m256i w, __m256i *e, __m256i *o) {
  *e = _mm256_srai_epi16(_mm256_slli_epi16(w, 8), 8);
  *o = _mm256_srai_epi16(w, 8);
}

/// 32 unsigned bytes -> even and odd elements as int16.
AVX2_INLINE void eo_u8(__m256i w, __m256i *e, __m256i *o) {
  *e = _mm256_and_si256(w, _mm256_set1_epi16(0xFF));
  *o = _mm256_srli_epi16(w, 8);
}

// ---- legacy blocks: one group of 32 ---------------------------------------------------------

/// 16 bytes of nibbles (byte j: element j low, element 16 + j high) -> even and odd elements.
/// Both 128-bit halves get the 16 bytes; per-half shifts pick low nibbles in the first half
/// (elements 0..15) and high nibbles in the second (16..31).
AVX2_INLINE void nibbles_eo(const uint8_t *qs, __m256i *e, __m256i *o) {
  const __m256i w = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs));
  const __m256i m = _mm256_set1_epi16(0xF);
  *e = _mm256_and_si256(_mm256_srlv_epi32(w, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4)), m);
  *o = _mm256_and_si256(_mm256_srlv_epi32(w, _mm256_setr_epi32(8, 8, 8, 8, 12, 12, 12, 12)), m);
}

AVX2_INLINE void vals_q4_0(const hk_block_q4_0 *b, __m256i *e, __m256i *o) {
  nibbles_eo(b->qs, e, o);
  *e = _mm256_sub_epi16(*e, _mm256_set1_epi16(8));
  *o = _mm256_sub_epi16(*o, _mm256_set1_epi16(8));
}

AVX2_INLINE void vals_q4_1(const hk_block_q4_1 *b, __m256i *e, __m256i *o) { nibbles_eo(b->qs, e, o); }

/// Q5_0: q - 16 as a signed byte is nibble | 0xF0 where the fifth bit is clear.
AVX2_INLINE void vals_q5_0(const hk_block_q5_0 *b, __m256i *e, __m256i *o) {
  eo_i8(_mm256_or_si256(nibbles32(b->qs), _mm256_andnot_si256(bits32(b->qh), _mm256_set1_epi8((char)0xF0))), e, o);
}

AVX2_INLINE void vals_q5_1(const hk_block_q5_1 *b, __m256i *e, __m256i *o) {
  eo_u8(_mm256_or_si256(nibbles32(b->qs), _mm256_and_si256(bits32(b->qh), _mm256_set1_epi8(0x10))), e, o);
}

AVX2_INLINE void vals_q8_0(const hk_block_q8_0 *b, __m256i *e, __m256i *o) {
  eo_i8(_mm256_loadu_si256((const __m256i *)b->qs), e, o);
}

// ---- K-quants: 64 values (two groups) per step ----------------------------------------------

/// Q4_K: 32 bytes of qs hold group A in the low nibbles and group B in the high ones ->
/// v = {A even, A odd, B even, B odd}.
AVX2_INLINE void vals_q4_K_pair(const uint8_t *qs, __m256i v[4]) {
  const __m256i w = _mm256_loadu_si256((const __m256i *)qs);
  const __m256i m4 = _mm256_set1_epi16(0xF);
  v[0] = _mm256_and_si256(w, m4);
  v[1] = _mm256_and_si256(_mm256_srli_epi16(w, 8), m4);
  v[2] = _mm256_and_si256(_mm256_srli_epi16(w, 4), m4);
  v[3] = _mm256_srli_epi16(w, 12);
}

/// Q5_K: as Q4_K, with each value's fifth bit from *hb (the block's qh, shifted 2 per step).
AVX2_INLINE void vals_q5_K_pair(const uint8_t *qs, __m256i *hb, __m256i v[4]) {
  const __m256i m4 = _mm256_set1_epi8(0xF), one = _mm256_set1_epi8(1);
  const __m256i bits = _mm256_loadu_si256((const __m256i *)qs);
  const __m256i a = _mm256_or_si256(_mm256_and_si256(bits, m4), _mm256_slli_epi16(_mm256_and_si256(*hb, one), 4));
  const __m256i b = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bits, 4), m4),
                                    _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(*hb, 1), one), 4));
  *hb = _mm256_srli_epi16(*hb, 2);
  eo_u8(a, &v[0], &v[1]);
  eo_u8(b, &v[2], &v[3]);
}

/// Q6_K: one 128-value chunk (ql: 64 bytes, qh: 32 bytes) -> four groups of signed values
/// (q - 32), 32 bytes each, element i in byte i.
AVX2_INLINE void vals_q6_K_chunk(const uint8_t *ql, const uint8_t *qh, __m256i q[4]) {
  const __m256i m4 = _mm256_set1_epi8(0xF), m2 = _mm256_set1_epi8(3), m32 = _mm256_set1_epi8(32);
  const __m256i h = _mm256_loadu_si256((const __m256i *)qh);
  const __m256i b1 = _mm256_loadu_si256((const __m256i *)ql), b2 = _mm256_loadu_si256((const __m256i *)(ql + 32));
  q[0] = _mm256_or_si256(_mm256_and_si256(b1, m4), _mm256_slli_epi16(_mm256_and_si256(h, m2), 4));
  q[1] = _mm256_or_si256(_mm256_and_si256(b2, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), m2), 4));
  q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b1, 4), m4),
                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), m2), 4));
  q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b2, 4), m4),
                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), m2), 4));
  for (int k = 0; k < 4; k++) q[k] = _mm256_sub_epi8(q[k], m32);
}

/// The 8 scales and 8 mins of a Q4_K/Q5_K block as 16 bytes (scales first), ggml's bit shuffle.
AVX2_INLINE __m128i scales_mins_k4(const uint8_t *packed) {
  const uint32_t kmask1 = 0x3f3f3f3f, kmask2 = 0x0f0f0f0f, kmask3 = 0x03030303;
  uint32_t u[4];
  memcpy(u, packed, 12);
  u[3] = ((u[2] >> 4) & kmask2) | (((u[1] >> 6) & kmask3) << 4);
  const uint32_t uaux = u[1] & kmask1;
  u[1] = (u[2] & kmask2) | (((u[0] >> 6) & kmask3) << 4);
  u[2] = uaux;
  u[0] &= kmask1;
  return _mm_set_epi32((int)u[3], (int)u[2], (int)u[1], (int)u[0]);
}

#endif
#endif
