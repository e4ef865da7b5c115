// Helpers for the AVX2 kernels. Every function carries the target attribute itself, so the files
// compile without -mavx2 and the binary runs on any x86-64; callers reach these kernels only after
// hk_cpu_best_level() said yes.
#ifndef HEARTH_CKERNELS_AVX2_H
#define HEARTH_CKERNELS_AVX2_H
#include "internal.h"
#if defined(__x86_64__)
#include <immintrin.h>

// A file compiled with HK_VNNI set (the vnni_*.c wrappers) builds the same kernels for the
// AVX512VNNI level: 256-bit code as here, where MADD_ACC is one `vpdpwssd`.
#if HK_VNNI
#define HK_TARGET "avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni"
#else
#define HK_TARGET "avx2,fma,f16c"
#endif
#define AVX2 __attribute__((target(HK_TARGET)))
#define AVX2_INLINE static inline __attribute__((always_inline, target(HK_TARGET)))

AVX2_INLINE float hsum_ps(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

AVX2_INLINE float hsum_ps128(__m128 s) {
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

AVX2_INLINE __m256 abs_ps(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

AVX2_INLINE float hmax_ps(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

/// The four horizontal sums {Σa, Σb, Σc, Σd} at once.
AVX2_INLINE __m128 hsum4_ps(__m256 a, __m256 b, __m256 c, __m256 d) {
  __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
  return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

/// 16 packed bytes -> 32 nibbles: low nibbles in bytes 0..15, high nibbles in 16..31 (ggml order).
AVX2_INLINE __m256i nibbles32(const uint8_t *p) {
  __m128i t = _mm_loadu_si128((const __m128i *)p);
  __m256i b = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
  return _mm256_and_si256(b, _mm256_set1_epi8(0x0F));
}

/// 32 bits -> 32 bytes, 0xFF where the bit is set.
AVX2_INLINE __m256i bits32(const uint8_t *p) {
  uint32_t x; memcpy(&x, p, 4);
  const __m256i spread = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
  __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32((int)x), spread);
  bytes = _mm256_or_si256(bytes, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
  return _mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1));
}

/// Sum of products of signed bytes x and y, as 8 int32 lanes (maddubs needs one unsigned side,
/// so x's sign moves onto y).
AVX2_INLINE __m256i dot_i8_i32(__m256i x, __m256i y) {
  __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
  return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

/// Same for unsigned x (< 128) and signed y.
AVX2_INLINE __m256i dot_u8_i32(__m256i x, __m256i y) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), _mm256_set1_epi16(1));
}

/// acc + Σ pairs of int16 products (a `vpmaddwd` into int32 lanes, added to acc).
AVX2_INLINE __m256i madd_acc(__m256i acc, __m256i x, __m256i y) {
#if HK_VNNI
  return _mm256_dpwssd_epi32(acc, x, y);
#else
  return _mm256_add_epi32(acc, _mm256_madd_epi16(x, y));
#endif
}

AVX2_INLINE __m256 fp16x(hk_half h) { return _mm256_broadcast_ss(&hk_fp16_table[h]); }

#endif
#endif
