// AVX2 multi-row, multi-token kernels for prompt processing.
//
// Work goes in tiles of HK_GEMM_ROWS (4) weight rows. The tile's rows are first unpacked into an
// L1-resident scratch layout (plain bytes, scale vectors ready for `madd`), so the bit twiddling
// is paid once per row and not once per (row, token). Then every token pair runs 2x2 register
// tiles over it: each weight vector loaded feeds two tokens, each activation vector two rows.
//
// Unpacked layouts (per row; `rb` bytes apart in scratch, 64-byte aligned):
//   K-quants, per super-block (576 bytes): vals[256] unsigned values | scales: 8 x 16 int16 (lanes
//     0..7 for the first 16 values of each 32, 8..15 for the last 16) | mins: 16 int16 (one per
//     16 values, against Q8_K's bsums) | f32 d, f32 dm.  Dot = d*Σ sc*v*a - dm*Σ m*bsum.
//   Legacy (Q4_0 Q5_0 Q4_1 Q5_1): vals[32] unsigned per group; Q8_0: |w|[32] w[32] per group.
//     Then group scales dw2 and offsets ow2 in pair layout (see below).
#include "avx2.h"
#if defined(__x86_64__)

enum { K_SB = 576 };

// ---- unpacking -----------------------------------------------------------------------------

static AVX2 void put_k_scales(uint8_t *o, const int sc16[16], const int m16[16], float d, float dm) {
  for (int g = 0; g < 8; g++) {
    __m128i lo = _mm_set1_epi16((short)sc16[2 * g]), hi = _mm_set1_epi16((short)sc16[2 * g + 1]);
    _mm256_store_si256((__m256i *)(o + 256 + 32 * g), _mm256_set_m128i(hi, lo));
  }
  int16_t *mn = (int16_t *)(o + 512);
  for (int g = 0; g < 16; g++) mn[g] = (int16_t)m16[g];
  float *f = (float *)(o + 544);
  f[0] = d; f[1] = dm;
}

static AVX2 void unpack_q4_K(const void *src, int n, uint8_t *dst) {
  const hk_block_q4_K *x = src;
  const __m256i m4 = _mm256_set1_epi8(0xF);
  for (int i = 0; i < n / HK_QK_K; i++) {
    uint8_t *o = dst + (size_t)i * K_SB;
    for (int j = 0; j < 4; j++) {
      __m256i b = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * j));
      _mm256_store_si256((__m256i *)(o + 64 * j), _mm256_and_si256(b, m4));
      _mm256_store_si256((__m256i *)(o + 64 * j + 32), _mm256_and_si256(_mm256_srli_epi16(b, 4), m4));
    }
    int sc16[16], m16[16];
    for (int g = 0; g < 8; g++) {
      uint8_t sc, m;
      hk_scale_min_k4(g, x[i].scales, &sc, &m);
      sc16[2 * g] = sc16[2 * g + 1] = sc;
      m16[2 * g] = m16[2 * g + 1] = m;
    }
    put_k_scales(o, sc16, m16, hk_fp16_to_f32(x[i].d), hk_fp16_to_f32(x[i].dmin));
  }
}

static AVX2 void unpack_q5_K(const void *src, int n, uint8_t *dst) {
  const hk_block_q5_K *x = src;
  const __m256i m4 = _mm256_set1_epi8(0xF), one = _mm256_set1_epi8(1);
  for (int i = 0; i < n / HK_QK_K; i++) {
    uint8_t *o = dst + (size_t)i * K_SB;
    __m256i hb = _mm256_loadu_si256((const __m256i *)x[i].qh);
    for (int j = 0; j < 4; j++) {
      __m256i b = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * j));
      __m256i lo = _mm256_or_si256(_mm256_and_si256(b, m4), _mm256_slli_epi16(_mm256_and_si256(hb, one), 4));
      __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 1), one), 4));
      _mm256_store_si256((__m256i *)(o + 64 * j), lo);
      _mm256_store_si256((__m256i *)(o + 64 * j + 32), hi);
      hb = _mm256_srli_epi16(hb, 2);
    }
    int sc16[16], m16[16];
    for (int g = 0; g < 8; g++) {
      uint8_t sc, m;
      hk_scale_min_k4(g, x[i].scales, &sc, &m);
      sc16[2 * g] = sc16[2 * g + 1] = sc;
      m16[2 * g] = m16[2 * g + 1] = m;
    }
    put_k_scales(o, sc16, m16, hk_fp16_to_f32(x[i].d), hk_fp16_to_f32(x[i].dmin));
  }
}

static AVX2 void unpack_q6_K(const void *src, int n, uint8_t *dst) {
  const hk_block_q6_K *x = src;
  const __m256i m4 = _mm256_set1_epi8(0xF), m2 = _mm256_set1_epi8(3);
  for (int i = 0; i < n / HK_QK_K; i++) {
    uint8_t *o = dst + (size_t)i * K_SB;
    const uint8_t *ql = x[i].ql, *qh = x[i].qh;
    for (int c = 0; c < 2; c++, ql += 64, qh += 32) {
      const __m256i h = _mm256_loadu_si256((const __m256i *)qh);
      const __m256i b1 = _mm256_loadu_si256((const __m256i *)ql), b2 = _mm256_loadu_si256((const __m256i *)(ql + 32));
      uint8_t *v = o + 128 * c;
      _mm256_store_si256((__m256i *)v, _mm256_or_si256(_mm256_and_si256(b1, m4), _mm256_slli_epi16(_mm256_and_si256(h, m2), 4)));
      _mm256_store_si256((__m256i *)(v + 32), _mm256_or_si256(_mm256_and_si256(b2, m4),
                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), m2), 4)));
      _mm256_store_si256((__m256i *)(v + 64), _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b1, 4), m4),
                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), m2), 4)));
      _mm256_store_si256((__m256i *)(v + 96), _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b2, 4), m4),
                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), m2), 4)));
    }
    // Values are stored unsigned (q); q - 32 is restored through the min term: 32*sc per 16.
    int sc16[16], m16[16];
    for (int g = 0; g < 16; g++) { sc16[g] = x[i].scales[g]; m16[g] = 32 * x[i].scales[g]; }
    const float d = hk_fp16_to_f32(x[i].d);
    put_k_scales(o, sc16, m16, d, d);
  }
}

// Legacy formats. Values are stored unsigned where the format allows (Q4_0/Q5_0 keep their
// offset-binary codes, Q4_1/Q5_1 have no sign), so the integer dot is a plain maddubs; the
// offset (or the min) comes back through a per-group float term ow * sa, where sa = d_a * Σa is
// prepared once per token. Q8_0 keeps |w| and w for the sign trick. Per-group floats are laid
// out in pairs as [A A B B A A B B], the lane order in which the integer code leaves two groups'
// sums, so one cvt and one fma serve two groups; the offsets use the same layout scaled by 1/4
// (each appears in four lanes), so they join the same accumulators.
static inline size_t legacy_vals_bytes(int type, int ng) { return (size_t)ng * (type == HK_Q8_0 ? 64 : 32); }

static inline void put_pair_scale(float *dw2, int g, float d) {
  float *p = dw2 + 8 * (g / 2) + 2 * (g & 1);
  p[0] = p[1] = p[4] = p[5] = d;
}

/// Bytes of one pair-layout float array for ng groups.
static inline size_t pair_bytes(int ng) { return (size_t)((ng + 1) / 2) * 32; }

#define LEGACY_UNPACK(NAME, BLOCK, VALS, OFFSET)                                          \
  static AVX2 void NAME(const void *src, int n, uint8_t *dst) {                           \
    const BLOCK *x = src;                                                                  \
    const int ng = n / HK_QK;                                                              \
    float *dw2 = (float *)(dst + legacy_vals_bytes(TYPE_OF_##NAME, ng));                   \
    float *ow2 = dw2 + 8 * ((ng + 1) / 2);                                                 \
    if (ng & 1) { memset(dw2 + 8 * (ng / 2), 0, 32); memset(ow2 + 8 * (ng / 2), 0, 32); }  \
    for (int g = 0; g < ng; g++) {                                                         \
      const float d = hk_fp16_to_f32(x[g].d);                                              \
      VALS;                                                                                \
      put_pair_scale(dw2, g, d);                                                           \
      put_pair_scale(ow2, g, 0.25f * (OFFSET));                                            \
    }                                                                                      \
  }
#define TYPE_OF_unpack_q4_0 HK_Q4_0
#define TYPE_OF_unpack_q5_0 HK_Q5_0
#define TYPE_OF_unpack_q8_0 HK_Q8_0
#define TYPE_OF_unpack_q4_1 HK_Q4_1
#define TYPE_OF_unpack_q5_1 HK_Q5_1
#define STORE32(V) _mm256_store_si256((__m256i *)(dst + (size_t)g * 32), V)

LEGACY_UNPACK(unpack_q4_0, hk_block_q4_0, STORE32(nibbles32(x[g].qs)), -8 * d)
LEGACY_UNPACK(unpack_q5_0, hk_block_q5_0,
              STORE32(_mm256_or_si256(nibbles32(x[g].qs), _mm256_and_si256(bits32(x[g].qh), _mm256_set1_epi8(0x10)))), -16 * d)
LEGACY_UNPACK(unpack_q4_1, hk_block_q4_1, STORE32(nibbles32(x[g].qs)), hk_fp16_to_f32(x[g].m))
LEGACY_UNPACK(unpack_q5_1, hk_block_q5_1,
              STORE32(_mm256_or_si256(nibbles32(x[g].qs), _mm256_and_si256(bits32(x[g].qh), _mm256_set1_epi8(0x10)))),
              hk_fp16_to_f32(x[g].m))
LEGACY_UNPACK(unpack_q8_0, hk_block_q8_0,
              { __m256i w = _mm256_loadu_si256((const __m256i *)x[g].qs);
                _mm256_store_si256((__m256i *)(dst + (size_t)g * 64), _mm256_sign_epi8(w, w));
                _mm256_store_si256((__m256i *)(dst + (size_t)g * 64 + 32), w); }, 0)
#undef STORE32

/// Per-token data for the legacy tiles, in pair layout: da2 and sa2, sa = d_a * Σa per group
/// (Q8_1 stores it as s; for Q8_0 it is computed here).
static AVX2 void legacy_token_prep(int act, const void *a, int ng, float *da2, float *sa2) {
  if (ng & 1) { memset(da2 + 8 * (ng / 2), 0, 32); memset(sa2 + 8 * (ng / 2), 0, 32); }
  for (int g = 0; g < ng; g++) {
    float d, s;
    if (act == HK_Q8_1) {
      const hk_block_q8_1 *b = (const hk_block_q8_1 *)a + g;
      d = hk_fp16_to_f32(b->d);
      s = hk_fp16_to_f32(b->s);
    } else {
      const hk_block_q8_0 *b = (const hk_block_q8_0 *)a + g;
      d = hk_fp16_to_f32(b->d);
      __m256i q = _mm256_loadu_si256((const __m256i *)b->qs);
      __m256i w = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q), _mm256_set1_epi16(1));
      __m128i h = _mm_add_epi32(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
      h = _mm_hadd_epi32(h, h);
      h = _mm_hadd_epi32(h, h);
      s = d * (float)_mm_cvtsi128_si32(h);
    }
    put_pair_scale(da2, g, d);
    put_pair_scale(sa2, g, s);
  }
}

// ---- 2x2 tiles: rows u0,u1 (unpacked) x tokens a0,a1; out = {r0t0, r0t1, r1t0, r1t1} -------

static AVX2 void tile_k(const uint8_t *u0, const uint8_t *u1, const void *va0, const void *va1, int n, float out[4]) {
  const hk_block_q8_K *a0 = va0, *a1 = va1;
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00;
  for (int i = 0; i < n / HK_QK_K; i++, u0 += K_SB, u1 += K_SB) {
    const int8_t *q0 = a0[i].qs, *q1 = a1[i].qs;
    __m256i s00 = _mm256_setzero_si256(), s01 = s00, s10 = s00, s11 = s00;
    for (int g = 0; g < 8; g++) {
      const __m256i x0 = _mm256_load_si256((const __m256i *)(u0 + 32 * g));
      const __m256i x1 = _mm256_load_si256((const __m256i *)(u1 + 32 * g));
      const __m256i y0 = _mm256_loadu_si256((const __m256i *)(q0 + 32 * g));
      const __m256i y1 = _mm256_loadu_si256((const __m256i *)(q1 + 32 * g));
      const __m256i k0 = _mm256_load_si256((const __m256i *)(u0 + 256 + 32 * g));
      const __m256i k1 = _mm256_load_si256((const __m256i *)(u1 + 256 + 32 * g));
      s00 = _mm256_add_epi32(s00, _mm256_madd_epi16(k0, _mm256_maddubs_epi16(x0, y0)));
      s01 = _mm256_add_epi32(s01, _mm256_madd_epi16(k0, _mm256_maddubs_epi16(x0, y1)));
      s10 = _mm256_add_epi32(s10, _mm256_madd_epi16(k1, _mm256_maddubs_epi16(x1, y0)));
      s11 = _mm256_add_epi32(s11, _mm256_madd_epi16(k1, _mm256_maddubs_epi16(x1, y1)));
    }
    const __m256i m0 = _mm256_load_si256((const __m256i *)(u0 + 512)), m1 = _mm256_load_si256((const __m256i *)(u1 + 512));
    const __m256i b0 = _mm256_loadu_si256((const __m256i *)a0[i].bsums), b1 = _mm256_loadu_si256((const __m256i *)a1[i].bsums);
    const float *f0 = (const float *)(u0 + 544), *f1 = (const float *)(u1 + 544);
    const __m256 d0 = _mm256_set1_ps(f0[0]), dm0 = _mm256_set1_ps(f0[1]);
    const __m256 d1 = _mm256_set1_ps(f1[0]), dm1 = _mm256_set1_ps(f1[1]);
    const __m256 e0 = _mm256_set1_ps(a0[i].d), e1 = _mm256_set1_ps(a1[i].d);
#define K_ACC(C, S, D, DM, M, B, E) \
    C = _mm256_fmadd_ps(E, _mm256_fnmadd_ps(DM, _mm256_cvtepi32_ps(_mm256_madd_epi16(M, B)), _mm256_mul_ps(D, _mm256_cvtepi32_ps(S))), C)
    K_ACC(c00, s00, d0, dm0, m0, b0, e0);
    K_ACC(c01, s01, d0, dm0, m0, b1, e1);
    K_ACC(c10, s10, d1, dm1, m1, b0, e0);
    K_ACC(c11, s11, d1, dm1, m1, b1, e1);
#undef K_ACC
  }
  out[0] = hsum_ps(c00); out[1] = hsum_ps(c01); out[2] = hsum_ps(c10); out[3] = hsum_ps(c11);
}

/// Legacy 2x2 tile. u0/u1: unpacked rows; pa0/pa1: the tokens' prepared da2 then sa arrays;
/// SIGNED selects the Q8_0 layout (|w|, w) and its sign trick.
AVX2_INLINE void tile_legacy(const uint8_t *u0, const uint8_t *u1, const void *va0, const void *va1, const float *pa0,
                             const float *pa1, int n, float out[4], int SIGNED, size_t act_block) {
  const int ng = n / HK_QK, ngp = (ng + 1) / 2;
  const size_t vb = SIGNED ? 64 : 32;
  const float *dw0 = (const float *)(u0 + (size_t)ng * vb), *dw1 = (const float *)(u1 + (size_t)ng * vb);
  const float *ow0 = dw0 + 8 * ngp, *ow1 = dw1 + 8 * ngp;
  const float *da0 = pa0, *da1 = pa1, *sa0 = pa0 + 8 * ngp, *sa1 = pa1 + 8 * ngp;
  (void)ow0; (void)ow1; (void)sa0; (void)sa1;
  const uint8_t *q0 = (const uint8_t *)va0 + (act_block - 32), *q1 = (const uint8_t *)va1 + (act_block - 32);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00;
  // Two groups' sums in the [A A B B | A A B B] lane order. Unsigned values are at most 31, so
  // a maddubs lane is at most 2*31*127 = 7874 and two lanes still fit int16: one hadd_epi16 and
  // one madd replace two madds and a hadd_epi32 (one multiply fewer per two groups).
  // Q8_0's sign-trick lanes can reach 32512, so it widens each group first.
#define MADDUBS(U, Q) _mm256_maddubs_epi16(_mm256_load_si256((const __m256i *)(U)), _mm256_loadu_si256((const __m256i *)(Q)))
#define MADDUBS_SIGNED(U, Q) _mm256_maddubs_epi16(_mm256_load_si256((const __m256i *)(U)), \
    _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(Q)), _mm256_load_si256((const __m256i *)((U) + 32))))
#define PAIR(XA, YA, XB, YB) (SIGNED \
    ? _mm256_hadd_epi32(_mm256_madd_epi16(MADDUBS_SIGNED(XA, YA), ones), _mm256_madd_epi16(MADDUBS_SIGNED(XB, YB), ones)) \
    : _mm256_madd_epi16(_mm256_hadd_epi16(MADDUBS(XA, YA), MADDUBS(XB, YB)), ones))
  const int full = ng / 2;
  for (int p = 0; p <= full; p++) {
    // The last pass handles an odd tail group, paired with itself under a zero scale.
    if (p == full && !(ng & 1)) break;
    const int gA = 2 * p, gB = p == full ? gA : gA + 1;
    const uint8_t *xA0 = u0 + gA * vb, *xB0 = u0 + gB * vb, *xA1 = u1 + gA * vb, *xB1 = u1 + gB * vb;
    const uint8_t *yA0 = q0 + gA * act_block, *yB0 = q0 + gB * act_block;
    const uint8_t *yA1 = q1 + gA * act_block, *yB1 = q1 + gB * act_block;
    const __m256 w0 = _mm256_load_ps(dw0 + 8 * p), w1 = _mm256_load_ps(dw1 + 8 * p);
    const __m256 e0 = _mm256_loadu_ps(da0 + 8 * p), e1 = _mm256_loadu_ps(da1 + 8 * p);
    c00 = _mm256_fmadd_ps(_mm256_mul_ps(w0, e0), _mm256_cvtepi32_ps(PAIR(xA0, yA0, xB0, yB0)), c00);
    c01 = _mm256_fmadd_ps(_mm256_mul_ps(w0, e1), _mm256_cvtepi32_ps(PAIR(xA0, yA1, xB0, yB1)), c01);
    c10 = _mm256_fmadd_ps(_mm256_mul_ps(w1, e0), _mm256_cvtepi32_ps(PAIR(xA1, yA0, xB1, yB0)), c10);
    c11 = _mm256_fmadd_ps(_mm256_mul_ps(w1, e1), _mm256_cvtepi32_ps(PAIR(xA1, yA1, xB1, yB1)), c11);
    if (!SIGNED) {
      const __m256 o0 = _mm256_load_ps(ow0 + 8 * p), o1 = _mm256_load_ps(ow1 + 8 * p);
      const __m256 s0 = _mm256_loadu_ps(sa0 + 8 * p), s1 = _mm256_loadu_ps(sa1 + 8 * p);
      c00 = _mm256_fmadd_ps(o0, s0, c00); c01 = _mm256_fmadd_ps(o0, s1, c01);
      c10 = _mm256_fmadd_ps(o1, s0, c10); c11 = _mm256_fmadd_ps(o1, s1, c11);
    }
  }
#undef PAIR
#undef MADDUBS
#undef MADDUBS_SIGNED
  _mm_storeu_ps(out, hsum4_ps(c00, c01, c10, c11));
}

// The three legacy variants as separate functions, so that block sizes are constants.
static AVX2 void tile_q8_0(const uint8_t *u0, const uint8_t *u1, const void *a0, const void *a1, const float *p0,
                           const float *p1, int n, float out[4]) {
  tile_legacy(u0, u1, a0, a1, p0, p1, n, out, 1, sizeof(hk_block_q8_0));
}
static AVX2 void tile_offset_q8_0(const uint8_t *u0, const uint8_t *u1, const void *a0, const void *a1, const float *p0,
                                  const float *p1, int n, float out[4]) {
  tile_legacy(u0, u1, a0, a1, p0, p1, n, out, 0, sizeof(hk_block_q8_0));
}
static AVX2 void tile_q8_1(const uint8_t *u0, const uint8_t *u1, const void *a0, const void *a1, const float *p0,
                           const float *p1, int n, float out[4]) {
  tile_legacy(u0, u1, a0, a1, p0, p1, n, out, 0, sizeof(hk_block_q8_1));
}

// ---- driver --------------------------------------------------------------------------------

typedef void (*unpack_fn)(const void *src, int n, uint8_t *dst);

enum { TOKEN_CHUNK = 64 };  // tokens whose prepared legacy data is kept in scratch at once

/// Scratch: HK_GEMM_ROWS unpacked rows, then (legacy only) TOKEN_CHUNK tokens' prepared data.
static inline size_t legacy_token_bytes(int n) { return 2 * pair_bytes(n / HK_QK); }

static AVX2 void gemm_tiles(int type, unpack_fn unpack, int n, const void *w, size_t ws, int nrows, const void *a,
                            size_t as, int ntok, float *out, size_t os, void *scratch) {
  const size_t rb = hk_gemm_row_bytes(type, n);
  uint8_t *buf = (uint8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
  const int kquant = type == HK_Q4_K || type == HK_Q5_K || type == HK_Q6_K;
  const int signed_vals = type == HK_Q8_0;
  const int act = (type == HK_Q4_1 || type == HK_Q5_1) ? HK_Q8_1 : HK_Q8_0;
  const size_t tb = legacy_token_bytes(n);
  float *prep = (float *)(buf + HK_GEMM_ROWS * rb);
  const int ng = n / HK_QK, ngp = (ng + 1) / 2;

  for (int c0 = 0; c0 < ntok; c0 += TOKEN_CHUNK) {
    const int nt = ntok - c0 < TOKEN_CHUNK ? ntok - c0 : TOKEN_CHUNK;
    const char *ac = (const char *)a + (size_t)c0 * as;
    if (!kquant)
      for (int t = 0; t < nt; t++) {
        float *p = (float *)((uint8_t *)prep + (size_t)t * tb);
        legacy_token_prep(act, ac + (size_t)t * as, ng, p, p + 8 * ngp);
      }
    for (int r0 = 0; r0 < nrows; r0 += HK_GEMM_ROWS) {
      const int R = nrows - r0 < HK_GEMM_ROWS ? nrows - r0 : HK_GEMM_ROWS;
      for (int r = 0; r < R; r++) unpack((const char *)w + (size_t)(r0 + r) * ws, n, buf + (size_t)r * rb);
      for (int t = 0; t < nt; t += 2) {
        const int two = t + 1 < nt;
        const char *a0 = ac + (size_t)t * as, *a1 = two ? a0 + as : a0;
        const float *p0 = (const float *)((uint8_t *)prep + (size_t)t * tb), *p1 = two ? (const float *)((const uint8_t *)p0 + tb) : p0;
        float *o0 = out + (size_t)(c0 + t) * os + r0, *o1 = two ? o0 + os : NULL;
        for (int r = 0; r < R; r += 2) {
          const int pair = r + 1 < R;
          const uint8_t *u0 = buf + (size_t)r * rb, *u1 = pair ? u0 + rb : u0;
          float res[4];
          if (kquant) tile_k(u0, u1, a0, a1, n, res);
          else if (signed_vals) tile_q8_0(u0, u1, a0, a1, p0, p1, n, res);
          else if (act == HK_Q8_1) tile_q8_1(u0, u1, a0, a1, p0, p1, n, res);
          else tile_offset_q8_0(u0, u1, a0, a1, p0, p1, n, res);
          o0[r] = res[0];
          if (two) o1[r] = res[1];
          if (pair) { o0[r + 1] = res[2]; if (two) o1[r + 1] = res[3]; }
        }
      }
    }
  }
}

#define GEMM(NAME, UNPACK, KIND)                                                                             \
  static AVX2 void NAME(int n, const void *w, size_t ws, int nr, const void *a, size_t as, int nt, float *o, \
                        size_t os, void *scratch) {                                                          \
    gemm_tiles(KIND, UNPACK, n, w, ws, nr, a, as, nt, o, os, scratch);                                       \
  }
GEMM(gemm_q4_K, unpack_q4_K, HK_Q4_K)
GEMM(gemm_q5_K, unpack_q5_K, HK_Q5_K)
GEMM(gemm_q6_K, unpack_q6_K, HK_Q6_K)
GEMM(gemm_q4_0, unpack_q4_0, HK_Q4_0)
GEMM(gemm_q5_0, unpack_q5_0, HK_Q5_0)
GEMM(gemm_q8_0, unpack_q8_0, HK_Q8_0)
GEMM(gemm_q4_1, unpack_q4_1, HK_Q4_1)
GEMM(gemm_q5_1, unpack_q5_1, HK_Q5_1)

void hk_avx2_fill_gemm(hk_kernels *k) {
  k->gemm[HK_Q4_K] = gemm_q4_K;
  k->gemm[HK_Q5_K] = gemm_q5_K;
  k->gemm[HK_Q6_K] = gemm_q6_K;
  k->gemm[HK_Q4_0] = gemm_q4_0;
  k->gemm[HK_Q5_0] = gemm_q5_0;
  k->gemm[HK_Q8_0] = gemm_q8_0;
  k->gemm[HK_Q4_1] = gemm_q4_1;
  k->gemm[HK_Q5_1] = gemm_q5_1;
}
#endif
