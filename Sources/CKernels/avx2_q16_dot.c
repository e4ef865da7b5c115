// AVX2 kernels against Q16 activations for decoding (one weight row against one activation
// row), where speed is set by how fast weights stream from memory: weights are widened to int16
// in registers and multiplied with `vpmaddwd`, so one instruction does 16 products and sums
// pairs into int32 (no sign trick, no saturation).
#include "avx2_q16.h"
#if defined(__x86_64__)

// ---- activation quantization: bit-identical to the scalar and Swift references ---------------

static AVX2 void quantize_q16(const float *x, void *vy, int n) {
  int16_t *q = vy;
  float *d = (float *)(q + n), *s = d + n / HK_QK;
  const __m256i top = _mm256_set1_epi32(HK_Q16_MAX), bottom = _mm256_set1_epi32(-HK_Q16_MAX);
  for (int g = 0; g < n / HK_QK; g++, x += HK_QK, q += HK_QK) {
    const __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8), v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
    const float amax = hmax_ps(_mm256_max_ps(_mm256_max_ps(abs_ps(v0), abs_ps(v1)), _mm256_max_ps(abs_ps(v2), abs_ps(v3))));
    const float dg = amax / HK_Q16_MAX, id = dg != 0 ? 1.0f / dg : 0.0f;
    const __m256 vid = _mm256_set1_ps(id);
    // cvtps rounds half to even under the default MXCSR, as the references do.
#define Q(V) _mm256_max_epi32(bottom, _mm256_min_epi32(top, _mm256_cvtps_epi32(_mm256_mul_ps(V, vid))))
    const __m256i i0 = Q(v0), i1 = Q(v1), i2 = Q(v2), i3 = Q(v3);
#undef Q
    // Into Q16's order (even elements, then odd): pack to int16 (within 128-bit lanes), split
    // each lane's evens from odds, gather 32-bit pairs, then take the halves.
    const __m256i evens_first = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15,
                                                 0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
    const __m256i pairs = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    const __m256i a = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(_mm256_packs_epi32(i0, i1), evens_first), pairs);
    const __m256i b = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(_mm256_packs_epi32(i2, i3), evens_first), pairs);
    _mm256_storeu_si256((__m256i *)q, _mm256_permute2x128_si256(a, b, 0x20));
    _mm256_storeu_si256((__m256i *)(q + 16), _mm256_permute2x128_si256(a, b, 0x31));
    const __m256i t = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
    __m128i t4 = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
    t4 = _mm_hadd_epi32(t4, t4);
    t4 = _mm_hadd_epi32(t4, t4);
    d[g] = dg;
    s[g] = dg * (float)_mm_cvtsi128_si32(t4);
  }
}

/// From one `NAME_one(n, row, activations)`: the vec_dot, and the decode loop over rows with the
/// dot inlined (no indirect call per row: rows are short, 576-896 values in these models); with
/// a few tokens, each row meets all of them while it is in L1.
#define ROWS_Q16(NAME)                                                                          \
  static AVX2 void NAME(int n, float *s, const void *vx, const void *vy) { *s = NAME##_one(n, vx, vy); } \
  __attribute__((unused)) static AVX2 void NAME##_rows(int n, const void *w, size_t w_stride, int nrows, const void *a, \
                                                       size_t a_stride, int ntok, float *out, size_t out_stride) { \
    for (int r = 0; r < nrows; r++)                                                             \
      for (int t = 0; t < ntok; t++)                                                            \
        out[(size_t)t * out_stride + r] = NAME##_one(n, (const char *)w + (size_t)r * w_stride, (const char *)a + (size_t)t * a_stride); \
  }

// ---- legacy formats: one float FMA per group, two accumulators so groups overlap ------------

#define LEGACY_Q16(NAME, BLOCK, VALS, MIN)                                                      \
  AVX2_INLINE float NAME##_one(int n, const void *vx, const void *vy) {                        \
    const BLOCK *x = vx;                                                                        \
    Q16_ROW(vy, n);                                                                             \
    (void)as;                                                                                   \
    const int ng = n / HK_QK;                                                                   \
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();                             \
    float m0 = 0, m1 = 0;                                                                       \
    int g = 0;                                                                                  \
    for (; g + 2 <= ng; g += 2) {                                                               \
      PREFETCH(&x[g]);                                                                          \
      STEP(g, acc0, m0, VALS, MIN);                                                             \
      STEP(g + 1, acc1, m1, VALS, MIN);                                                         \
    }                                                                                           \
    if (g < ng) STEP(g, acc0, m0, VALS, MIN);                                                   \
    return hsum_ps(_mm256_add_ps(acc0, acc1)) + (m0 + m1);                                      \
  }                                                                                             \
  ROWS_Q16(NAME)
#define STEP(G, ACC, M, VALS, MIN)                                                              \
  {                                                                                             \
    __m256i e, o;                                                                               \
    VALS(&x[G], &e, &o);                                                                        \
    const __m256i p = dot_eo(e, o, aq + (size_t)(G) * HK_QK);                                   \
    ACC = _mm256_fmadd_ps(_mm256_set1_ps(hk_fp16_to_f32(x[G].d) * ad[G]), _mm256_cvtepi32_ps(p), ACC); \
    MIN(G, M);                                                                                  \
  }
#define NO_MIN(G, M) (void)0
#define ADD_MIN(G, M) M += hk_fp16_to_f32(x[G].m) * as[G]

// Every format prefetches 4 KB ahead in software: the hardware prefetcher stops at 4 KB page
// boundaries, and a row of these models is 320-1200 bytes, so each task streams across many
// pages. On Zen 3 only Q8_0, the format lightest in instructions, gained (2 KB ahead, 7-22 %);
// on a Xeon (Ice Lake) the instruction-bound 4- and 5-bit formats gain as well (2 threads, 100 MB
// of rows: Q4_1 and Q5_0 about +20 %, Q4_K and Q6_K +15-25 %, noisy; docs/performance.md) and
// 4 KB measured steadier than 2 or 8. Prefetches never fault, so reading past the last row is
// harmless.
#define PREFETCH_AHEAD 4096
#define PREFETCH(P) _mm_prefetch((const char *)(P) + PREFETCH_AHEAD, _MM_HINT_T0)
/// Every cache line of one block, PREFETCH_AHEAD bytes on (K-quant blocks are 144-210 bytes).
#define PREFETCH_BLOCK(P, BYTES)                                                                \
  for (int line = 0; line < (BYTES); line += 64) _mm_prefetch((const char *)(P) + PREFETCH_AHEAD + line, _MM_HINT_T0)

LEGACY_Q16(dot_q4_0, hk_block_q4_0, vals_q4_0, NO_MIN)
LEGACY_Q16(dot_q4_1, hk_block_q4_1, vals_q4_1, ADD_MIN)
LEGACY_Q16(dot_q5_0, hk_block_q5_0, vals_q5_0, NO_MIN)
LEGACY_Q16(dot_q5_1, hk_block_q5_1, vals_q5_1, ADD_MIN)
LEGACY_Q16(dot_q8_0, hk_block_q8_0, vals_q8_0, NO_MIN)
#undef STEP

// ---- K-quants: each group's int32 sums meet their float factor d * sc * d_a in one FMA. The
// factors of a super-block are computed as one vector and broadcast from memory (a load, not a
// shuffle); two accumulators keep consecutive FMAs independent. --------------------------------

/// The same pointer, hidden from the optimizer: without it clang turns "store a vector, then
/// broadcast each float from memory" (loads only) into a chain of register shuffles, which are
/// the scarce resource in these kernels.
static inline const float *launder(const float *p) {
  __asm__ volatile("" : "+r"(p) : : "memory");
  return p;
}

#define DOT_K4_Q16(NAME, BLOCK, HIGH)                                                           \
  AVX2_INLINE float NAME##_one(int n, const void *vx, const void *vy) {                        \
    const BLOCK *x = vx;                                                                        \
    Q16_ROW(vy, n);                                                                             \
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(), accm = _mm256_setzero_ps(); \
    _Alignas(32) float f[8];                                                                    \
    for (int i = 0; i < n / HK_QK_K; i++) {                                                     \
      const int16_t *a = aq + (size_t)i * HK_QK_K;                                              \
      PREFETCH_BLOCK(&x[i], (int)sizeof(BLOCK));                                                \
      const __m128i sm = scales_mins_k4(x[i].scales);                                           \
      const __m256 sc = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(sm));                           \
      const __m256 mn = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(sm, 8)));        \
      _mm256_store_ps(f, _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(hk_fp16_to_f32(x[i].d)), sc), \
                                       _mm256_loadu_ps(ad + 8 * i)));                           \
      const float *fb = launder(f);                                                             \
      accm = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(hk_fp16_to_f32(x[i].dmin)), mn),     \
                             _mm256_loadu_ps(as + 8 * i), accm);                                \
      __m256i hb = HIGH ? _mm256_loadu_si256((const __m256i *)((const hk_block_q5_K *)(const void *)&x[i])->qh) \
                        : _mm256_setzero_si256();                                               \
      (void)hb;                                                                                 \
      for (int j = 0; j < 4; j++) {                                                             \
        __m256i v[4];                                                                           \
        if (HIGH) vals_q5_K_pair(x[i].qs + 32 * j, &hb, v);                                     \
        else vals_q4_K_pair(x[i].qs + 32 * j, v);                                               \
        const __m256i s0 = dot_eo(v[0], v[1], a + 64 * j), s1 = dot_eo(v[2], v[3], a + 64 * j + 32); \
        acc0 = _mm256_fmadd_ps(_mm256_broadcast_ss(fb + 2 * j), _mm256_cvtepi32_ps(s0), acc0);  \
        acc1 = _mm256_fmadd_ps(_mm256_broadcast_ss(fb + 2 * j + 1), _mm256_cvtepi32_ps(s1), acc1); \
      }                                                                                         \
    }                                                                                           \
    return hsum_ps(_mm256_sub_ps(_mm256_add_ps(acc0, acc1), accm));                             \
  }                                                                                             \
  ROWS_Q16(NAME)

DOT_K4_Q16(dot_q4_K, hk_block_q4_K, 0)
DOT_K4_Q16(dot_q5_K, hk_block_q5_K, 1)

/// Q6_K: 16 sub-blocks of 16, each with its own int8 scale. In Q16's order a group's sums have
/// sub-block 2g in their low 128 bits and 2g+1 in the high ones, so four groups reduce to one
/// vector of eight sub-block sums [0 2 4 6 | 1 3 5 7], which meets its scales in that order.
AVX2_INLINE float dot_q6_K_one(int n, const void *vx, const void *vy) {
  const hk_block_q6_K *x = vx;
  Q16_ROW(vy, n);
  (void)as;
  const __m128i order = _mm_setr_epi8(0, 2, 4, 6, 1, 3, 5, 7, 8, 10, 12, 14, 9, 11, 13, 15);
  __m256 acc = _mm256_setzero_ps();
  for (int i = 0; i < n / HK_QK_K; i++) {
    const int16_t *a = aq + (size_t)i * HK_QK_K;
    PREFETCH_BLOCK(&x[i], (int)sizeof(hk_block_q6_K));
    __m256i sums[8];
    for (int c = 0; c < 2; c++) {
      __m256i q[4];
      vals_q6_K_chunk(x[i].ql + 64 * c, x[i].qh + 32 * c, q);
      for (int k = 0; k < 4; k++) {
        __m256i e, o;
        eo_i8(q[k], &e, &o);
        sums[4 * c + k] = dot_eo(e, o, a + 32 * (4 * c + k));
      }
    }
    const __m128i sc = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)x[i].scales), order);
    const __m256 d = _mm256_set1_ps(hk_fp16_to_f32(x[i].d));
    const __m256 f0 = _mm256_mul_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(sc))),
                                    _mm256_broadcast_ps((const __m128 *)(ad + 8 * i)));
    const __m256 f1 = _mm256_mul_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(sc, 8)))),
                                    _mm256_broadcast_ps((const __m128 *)(ad + 8 * i + 4)));
    acc = _mm256_fmadd_ps(f0, _mm256_cvtepi32_ps(sum4_halves(sums[0], sums[1], sums[2], sums[3])), acc);
    acc = _mm256_fmadd_ps(f1, _mm256_cvtepi32_ps(sum4_halves(sums[4], sums[5], sums[6], sums[7])), acc);
  }
  return hsum_ps(acc);
}
ROWS_Q16(dot_q6_K)

void HK_Q16_FILL_GEMM(hk_kernels *k);

void HK_Q16_FILL(hk_kernels *k) {
  k->quantize_q16 = quantize_q16;
  k->vec_dot_q16[HK_Q4_0] = dot_q4_0;
  k->vec_dot_q16[HK_Q4_1] = dot_q4_1;
  k->vec_dot_q16[HK_Q5_0] = dot_q5_0;
  k->vec_dot_q16[HK_Q5_1] = dot_q5_1;
  k->vec_dot_q16[HK_Q8_0] = dot_q8_0;
  k->vec_dot_q16[HK_Q4_K] = dot_q4_K;
  k->vec_dot_q16[HK_Q5_K] = dot_q5_K;
  k->vec_dot_q16[HK_Q6_K] = dot_q6_K;
  // Q8_0 keeps one call per row: its rows loop ran 0.92-1.04x from memory (C microbenchmark) and
  // Gemma's 178 MB Q8_0 output projection measured slower with it end to end; the 4- to 6-bit
  // formats gained (SmolLM2 tg128 1.04-1.07x, Qwen2.5 1.03-1.07x at 2 threads).
  k->dot_rows_q16[HK_Q4_0] = dot_q4_0_rows;
  k->dot_rows_q16[HK_Q4_1] = dot_q4_1_rows;
  k->dot_rows_q16[HK_Q5_0] = dot_q5_0_rows;
  k->dot_rows_q16[HK_Q5_1] = dot_q5_1_rows;
  k->dot_rows_q16[HK_Q4_K] = dot_q4_K_rows;
  k->dot_rows_q16[HK_Q5_K] = dot_q5_K_rows;
  k->dot_rows_q16[HK_Q6_K] = dot_q6_K_rows;
  HK_Q16_FILL_GEMM(k);
}
#endif
