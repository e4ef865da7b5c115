// AVX2 multi-row, multi-token kernel against Q16 activations (prompt processing).
//
// Sixteen weight rows are unpacked to int16 and interleaved so that one vector holds the same two
// consecutive values of eight rows: [r0 v0 v1 | r1 v0 v1 | ... | r7 v0 v1], and the next vector
// the same for rows 8..15. A token's pair of activations at those positions is one int32,
// broadcast to every lane, and each `vpmaddwd` adds two products to eight rows' sums. Each lane of
// an accumulator is one row, so nothing is summed horizontally; every broadcast serves sixteen
// rows and every weight vector four tokens (loads, not arithmetic, are what limit this loop on
// Zen 3: 16 rows x 4 tokens take 6 loads per 8 `vpmaddwd`, 8 rows took 5 per 4). Each group's
// float work (scale, min) is one FMA per 8 rows x 32 values per token, and a token's results for
// 8 rows leave as one store.
//
// Tile layout in scratch (per 16-row tile, n values, ng = n / 32 groups):
//   vals:  ng x 16 pairs x (8 rows x 2 int16 for rows 0..7, then rows 8..15): 1024 bytes a group
//   scale: ng x 2 x 16 floats: the group's weight scale per row, for its elements 0..15 and
//          16..31 (they differ only for Q6_K, whose sub-blocks are 16 long)
//   mins:  ng x 16 floats: the group's offset per row (Q4_1/Q5_1 m, Q4_K/Q5_K -dmin*m), times s_a.
// Overflow: a lane sums the 32 products of one group, |w| <= 128 (Q8_0) times |a| <= 32767,
// < 2^27; Q6_K's 16-long halves are converted separately.
#include "avx2_q16.h"
#if defined(__x86_64__)

enum { R = HK_GEMM_Q16_ROWS, GROUP_BYTES = 1024, TOKENS = 4 };

/// Unpacks one row into n int16 values (in Q16's order: per group, even elements then odd) and
/// its per-group scales and offsets, written into this row's lane of the tile: sc[(2g + half) *
/// 16], mn[g * 16]; half 1 differs from half 0 only for Q6_K (elements 16..31 of the group).
typedef void (*unpack16_fn)(const void *src, int n, int16_t *dst, float *sc, float *mn);

#define UNPACK_LEGACY(NAME, BLOCK, VALS, MIN)                                   \
  static AVX2 void NAME(const void *src, int n, int16_t *dst, float *sc, float *mn) { \
    const BLOCK *x = src;                                                       \
    for (int g = 0; g < n / HK_QK; g++) {                                       \
      __m256i e, o;                                                             \
      VALS(&x[g], &e, &o);                                                      \
      _mm256_store_si256((__m256i *)(dst + 32 * g), e);                         \
      _mm256_store_si256((__m256i *)(dst + 32 * g + 16), o);                    \
      sc[32 * g] = sc[32 * g + 16] = hk_fp16_to_f32(x[g].d);                    \
      mn[16 * g] = MIN;                                                         \
    }                                                                           \
  }
UNPACK_LEGACY(unpack_q4_0, hk_block_q4_0, vals_q4_0, 0)
UNPACK_LEGACY(unpack_q4_1, hk_block_q4_1, vals_q4_1, hk_fp16_to_f32(x[g].m))
UNPACK_LEGACY(unpack_q5_0, hk_block_q5_0, vals_q5_0, 0)
UNPACK_LEGACY(unpack_q5_1, hk_block_q5_1, vals_q5_1, hk_fp16_to_f32(x[g].m))
UNPACK_LEGACY(unpack_q8_0, hk_block_q8_0, vals_q8_0, 0)

/// Q4_K/Q5_K: a sub-block is a group; its scale d*sc and offset -dmin*m are exact in f32
/// (11-bit mantissa times 6 bits).
#define UNPACK_K4(NAME, BLOCK, HIGH)                                            \
  static AVX2 void NAME(const void *src, int n, int16_t *dst, float *sc, float *mn) { \
    const BLOCK *x = src;                                                       \
    for (int i = 0; i < n / HK_QK_K; i++) {                                     \
      __m256i hb = HIGH ? _mm256_loadu_si256((const __m256i *)((const hk_block_q5_K *)(const void *)&x[i])->qh) \
                        : _mm256_setzero_si256();                               \
      (void)hb;                                                                 \
      for (int j = 0; j < 4; j++) {                                             \
        __m256i v[4];                                                           \
        if (HIGH) vals_q5_K_pair(x[i].qs + 32 * j, &hb, v);                     \
        else vals_q4_K_pair(x[i].qs + 32 * j, v);                               \
        int16_t *o = dst + 256 * i + 64 * j;                                    \
        for (int k = 0; k < 4; k++) _mm256_store_si256((__m256i *)(o + 16 * k), v[k]); \
      }                                                                         \
      uint8_t s16[16];                                                          \
      _mm_storeu_si128((__m128i *)s16, scales_mins_k4(x[i].scales));            \
      const float d = hk_fp16_to_f32(x[i].d), dmin = hk_fp16_to_f32(x[i].dmin); \
      for (int j = 0; j < 8; j++) {                                             \
        const int g = 8 * i + j;                                                \
        sc[32 * g] = sc[32 * g + 16] = d * (float)s16[j];                       \
        mn[16 * g] = -dmin * (float)s16[8 + j];                                 \
      }                                                                         \
    }                                                                           \
  }
UNPACK_K4(unpack_q4_K, hk_block_q4_K, 0)
UNPACK_K4(unpack_q5_K, hk_block_q5_K, 1)

static AVX2 void unpack_q6_K(const void *src, int n, int16_t *dst, float *sc, float *mn) {
  const hk_block_q6_K *x = src;
  for (int i = 0; i < n / HK_QK_K; i++) {
    for (int c = 0; c < 2; c++) {
      __m256i q[4];
      vals_q6_K_chunk(x[i].ql + 64 * c, x[i].qh + 32 * c, q);
      for (int k = 0; k < 4; k++) {
        __m256i e, o;
        eo_i8(q[k], &e, &o);
        int16_t *out = dst + 32 * (8 * i + 4 * c + k);
        _mm256_store_si256((__m256i *)out, e);
        _mm256_store_si256((__m256i *)(out + 16), o);
      }
    }
    const float d = hk_fp16_to_f32(x[i].d);
    for (int k = 0; k < 16; k++) sc[32 * (8 * i + k / 2) + 16 * (k & 1)] = d * (float)x[i].scales[k];
    for (int j = 0; j < 8; j++) mn[16 * (8 * i + j)] = 0;
  }
}

/// Rows k = 0..7 (`stride` int16 apart), 16 values each = 8 int32 pairs -> the vector at
/// out + p * 64 (p = 0..7) holds pair p of every row, row k in lane k: an 8x8 transpose of 32-bit
/// elements.
AVX2_INLINE void interleave8(const int16_t *rows, size_t stride, uint8_t *out) {
  __m256i r[8];
  for (int k = 0; k < 8; k++) r[k] = _mm256_load_si256((const __m256i *)(rows + k * stride));
  const __m256i t0 = _mm256_unpacklo_epi32(r[0], r[1]), t1 = _mm256_unpackhi_epi32(r[0], r[1]);
  const __m256i t2 = _mm256_unpacklo_epi32(r[2], r[3]), t3 = _mm256_unpackhi_epi32(r[2], r[3]);
  const __m256i t4 = _mm256_unpacklo_epi32(r[4], r[5]), t5 = _mm256_unpackhi_epi32(r[4], r[5]);
  const __m256i t6 = _mm256_unpacklo_epi32(r[6], r[7]), t7 = _mm256_unpackhi_epi32(r[6], r[7]);
  const __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
  const __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
  const __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
  const __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
  __m256i *o = (__m256i *)out;
  _mm256_store_si256(o + 0, _mm256_permute2x128_si256(u0, u4, 0x20));
  _mm256_store_si256(o + 2, _mm256_permute2x128_si256(u1, u5, 0x20));
  _mm256_store_si256(o + 4, _mm256_permute2x128_si256(u2, u6, 0x20));
  _mm256_store_si256(o + 6, _mm256_permute2x128_si256(u3, u7, 0x20));
  _mm256_store_si256(o + 8, _mm256_permute2x128_si256(u0, u4, 0x31));
  _mm256_store_si256(o + 10, _mm256_permute2x128_si256(u1, u5, 0x31));
  _mm256_store_si256(o + 12, _mm256_permute2x128_si256(u2, u6, 0x31));
  _mm256_store_si256(o + 14, _mm256_permute2x128_si256(u3, u7, 0x31));
}

#define BCAST(P) _mm256_set1_epi32(load_i32(P))

/// T tokens (activation rows `as_` bytes apart) against one interleaved 16-row tile; writes rows
/// 0..rows-1 of each token's output.
AVX2_INLINE void tile_q16(const uint8_t *tile, const float *scl, const float *mns, int n, const uint8_t *act,
                          size_t as_, float *out, size_t os, int rows, const int T, const int SPLIT, const int MINS) {
  const int ng = n / HK_QK;
  const int16_t *aq[TOKENS];
  const float *ad[TOKENS], *sa[TOKENS];
  for (int t = 0; t < T; t++) {
    aq[t] = (const int16_t *)(act + (size_t)t * as_);
    ad[t] = (const float *)(aq[t] + n);
    sa[t] = ad[t] + ng;
  }
  __m256 c[TOKENS][2];
  for (int t = 0; t < T; t++) c[t][0] = c[t][1] = _mm256_setzero_ps();
  for (int g = 0; g < ng; g++) {
    const __m256i *w = (const __m256i *)(tile + (size_t)g * GROUP_BYTES);
    // Pair p covers positions 2p, 2p+1 of the group; for Q6_K (SPLIT) the pairs of elements
    // 0..15 (positions 0..7 and 16..23) come first, so that one conversion per sub-block follows.
    __m256i acc[TOKENS][2];
    for (int t = 0; t < T; t++) {
      const __m256i b = BCAST(aq[t] + 32 * g);
      acc[t][0] = _mm256_madd_epi16(w[0], b);
      acc[t][1] = _mm256_madd_epi16(w[1], b);
    }
#define PAIR(P)                                                                              \
    {                                                                                        \
      const __m256i w0 = _mm256_load_si256(w + 2 * (P)), w1 = _mm256_load_si256(w + 2 * (P) + 1); \
      for (int t = 0; t < T; t++) {                                                          \
        const __m256i b = BCAST(aq[t] + 32 * g + 2 * (P));                                   \
        acc[t][0] = madd_acc(acc[t][0], w0, b);                                              \
        acc[t][1] = madd_acc(acc[t][1], w1, b);                                              \
      }                                                                                      \
    }
    // Kept a loop: fully unrolled, clang regroups the adds per token and spills the weights.
#pragma clang loop unroll(disable)
    for (int k = 1; k < 8; k++) PAIR(SPLIT ? (k < 4 ? k : k + 4) : k)
    if (SPLIT) {
      const __m256 s0 = _mm256_load_ps(scl + 32 * g), s1 = _mm256_load_ps(scl + 32 * g + 8);
      for (int t = 0; t < T; t++) {
        const __m256 da = _mm256_broadcast_ss(ad[t] + g);
        c[t][0] = _mm256_fmadd_ps(_mm256_mul_ps(s0, da), _mm256_cvtepi32_ps(acc[t][0]), c[t][0]);
        c[t][1] = _mm256_fmadd_ps(_mm256_mul_ps(s1, da), _mm256_cvtepi32_ps(acc[t][1]), c[t][1]);
        acc[t][0] = acc[t][1] = _mm256_setzero_si256();
      }
    }
#pragma clang loop unroll(disable)
    for (int k = 8; k < 16; k++) PAIR(SPLIT ? (k < 12 ? k - 4 : k) : k)
#undef PAIR
    const float *sh = scl + 32 * g + (SPLIT ? 16 : 0);
    const __m256 s0 = _mm256_load_ps(sh), s1 = _mm256_load_ps(sh + 8);
    for (int t = 0; t < T; t++) {
      const __m256 da = _mm256_broadcast_ss(ad[t] + g);
      c[t][0] = _mm256_fmadd_ps(_mm256_mul_ps(s0, da), _mm256_cvtepi32_ps(acc[t][0]), c[t][0]);
      c[t][1] = _mm256_fmadd_ps(_mm256_mul_ps(s1, da), _mm256_cvtepi32_ps(acc[t][1]), c[t][1]);
    }
    if (MINS) {
      const __m256 m0 = _mm256_load_ps(mns + 16 * g), m1 = _mm256_load_ps(mns + 16 * g + 8);
      for (int t = 0; t < T; t++) {
        const __m256 s = _mm256_broadcast_ss(sa[t] + g);
        c[t][0] = _mm256_fmadd_ps(m0, s, c[t][0]);
        c[t][1] = _mm256_fmadd_ps(m1, s, c[t][1]);
      }
    }
  }
  if (rows == R) {
    for (int t = 0; t < T; t++) {
      _mm256_storeu_ps(out + (size_t)t * os, c[t][0]);
      _mm256_storeu_ps(out + (size_t)t * os + 8, c[t][1]);
    }
  } else {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(rows), lane), m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(rows - 8), lane);
    for (int t = 0; t < T; t++) {
      _mm256_maskstore_ps(out + (size_t)t * os, m0, c[t][0]);
      _mm256_maskstore_ps(out + (size_t)t * os + 8, m1, c[t][1]);
    }
  }
}

typedef void (*tile_fn)(const uint8_t *tile, const float *scl, const float *mns, int n, const uint8_t *act, size_t as_,
                        float *out, size_t os, int rows);
#define TILE(NAME, T, SPLIT, MINS)                                                                                 \
  static AVX2 void NAME(const uint8_t *tile, const float *scl, const float *mns, int n, const uint8_t *act,         \
                        size_t as_, float *out, size_t os, int rows) {                                             \
    tile_q16(tile, scl, mns, n, act, as_, out, os, rows, T, SPLIT, MINS);                                          \
  }
TILE(tile_plain1, 1, 0, 0) TILE(tile_plain2, 2, 0, 0) TILE(tile_plain3, 3, 0, 0) TILE(tile_plain4, 4, 0, 0)
TILE(tile_mins1, 1, 0, 1) TILE(tile_mins2, 2, 0, 1) TILE(tile_mins3, 3, 0, 1) TILE(tile_mins4, 4, 0, 1)
TILE(tile_split1, 1, 1, 0) TILE(tile_split2, 2, 1, 0) TILE(tile_split3, 3, 1, 0) TILE(tile_split4, 4, 1, 0)
static const tile_fn tiles_plain[TOKENS] = {tile_plain1, tile_plain2, tile_plain3, tile_plain4};
static const tile_fn tiles_mins[TOKENS] = {tile_mins1, tile_mins2, tile_mins3, tile_mins4};
static const tile_fn tiles_split[TOKENS] = {tile_split1, tile_split2, tile_split3, tile_split4};

// ---- driver --------------------------------------------------------------------------------

static AVX2 void gemm_q16(unpack16_fn unpack, const tile_fn *tiles, int n, const void *w, size_t ws, int nrows,
                          const void *a, size_t as_, int ntok, float *out, size_t os, void *scratch) {
  const int ng = n / HK_QK;
  uint8_t *base = (uint8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
  int16_t *rows = (int16_t *)base;                                       // R x n, natural order
  uint8_t *tile = base + (size_t)R * n * 2;                              // ng x 1024
  float *scl = (float *)(tile + (size_t)ng * GROUP_BYTES);               // ng x 32
  float *mns = scl + (size_t)ng * 32;                                    // ng x 16
  for (int r0 = 0; r0 < nrows; r0 += R) {
    const int nr = nrows - r0 < R ? nrows - r0 : R;
    for (int r = 0; r < nr; r++) unpack((const char *)w + (size_t)(r0 + r) * ws, n, rows + (size_t)r * n, scl + r, mns + r);
    // Lanes past the last row compute zeros, which the masked stores drop.
    for (int r = nr; r < R; r++) {
      memset(rows + (size_t)r * n, 0, (size_t)n * 2);
      for (int g = 0; g < ng; g++) { scl[32 * g + r] = scl[32 * g + 16 + r] = 0; mns[16 * g + r] = 0; }
    }
    for (int g = 0; g < ng; g++)
      for (int h = 0; h < 2; h++)      // elements 0..15 of the group (pairs 0..7), then 16..31
        for (int b = 0; b < 2; b++)    // rows 0..7, then 8..15
          interleave8(rows + (size_t)8 * b * n + 32 * g + 16 * h, (size_t)n, tile + (size_t)g * GROUP_BYTES + 512 * h + 32 * b);
    for (int t0 = 0; t0 < ntok; t0 += TOKENS) {
      const int nt = ntok - t0 < TOKENS ? ntok - t0 : TOKENS;
      tiles[nt - 1](tile, scl, mns, n, (const uint8_t *)a + (size_t)t0 * as_, as_, out + (size_t)t0 * os + r0, os, nr);
    }
  }
}

#define GEMM(NAME, UNPACK, TILES)                                                                             \
  static AVX2 void NAME(int n, const void *w, size_t ws, int nr, const void *a, size_t as_, int nt, float *o, \
                        size_t os, void *scratch) {                                                           \
    gemm_q16(UNPACK, TILES, n, w, ws, nr, a, as_, nt, o, os, scratch);                                        \
  }
GEMM(gemm_q4_0, unpack_q4_0, tiles_plain)
GEMM(gemm_q4_1, unpack_q4_1, tiles_mins)
GEMM(gemm_q5_0, unpack_q5_0, tiles_plain)
GEMM(gemm_q5_1, unpack_q5_1, tiles_mins)
GEMM(gemm_q8_0, unpack_q8_0, tiles_plain)
GEMM(gemm_q4_K, unpack_q4_K, tiles_mins)
GEMM(gemm_q5_K, unpack_q5_K, tiles_mins)
GEMM(gemm_q6_K, unpack_q6_K, tiles_split)

void HK_Q16_FILL_GEMM(hk_kernels *k) {
  k->gemm_q16[HK_Q4_0] = gemm_q4_0;
  k->gemm_q16[HK_Q4_1] = gemm_q4_1;
  k->gemm_q16[HK_Q5_0] = gemm_q5_0;
  k->gemm_q16[HK_Q5_1] = gemm_q5_1;
  k->gemm_q16[HK_Q8_0] = gemm_q8_0;
  k->gemm_q16[HK_Q4_K] = gemm_q4_K;
  k->gemm_q16[HK_Q5_K] = gemm_q5_K;
  k->gemm_q16[HK_Q6_K] = gemm_q6_K;
}
#endif
