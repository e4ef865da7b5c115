// 512-bit decode kernels for the AVX512VNNI level: Q4_1 and Q5_0 rows against Q16 activations,
// four groups (one "quad") per step.
//
// Why: with the weights streamed from memory by prefetch, the 256-bit kernels for these formats
// were limited by vector instructions, about 12 per group of 32 (Q5_0: 22), so they could not
// keep up with memory at 2 threads (Q5_0 was Qwen2.5's slowest stream per byte). Here each
// instruction covers four groups: the four blocks of a quad are read with two loads and gathered
// into place by one 2-source permute, and the activations are rearranged once per call into the
// same order, so that the rows then cost no shuffles for them. C microbenchmarks on a Xeon (Ice
// Lake), against this level's 256-bit kernels: one thread, rows in L2, Q4_1 (576 columns) 11.2 ->
// 13.9-15.4 GB/s, Q5_0 (896) 9.8 -> 11.3; two threads, 100 MB of rows from memory, Q5_0 13.1 ->
// 17.2-18.3 GB/s (docs/performance.md). The sums are the same integers as the 256-bit kernels';
// only the float order of adding the groups differs. Q5_0 has since moved to byte planes (below).
//
// Quad layout of an activation row (to_quads): the Q16 group g is four 128-bit parts [elements
// 0,2,..,14 | 16,18,..,30 | 1,3,..,15 | 17,19,..,31]; a quad is four zmm A0..A3 where lane k of
// A_i is part i of group 4q+k, then per group the pair (d, d * Σq) as floats. The weight
// unpacking below yields the same order: in a 16-bit word of a block's qs, bits 0-3 are element
// 2j, 4-7 element 16+2j, 8-11 element 2j+1, 12-15 element 17+2j. Groups past the row's end are
// zeros in both, so a short last quad adds exactly nothing.
#include "avx2_q16.h"
#if defined(__x86_64__)

#define ZMM_TARGET "avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni"
#define ZMM __attribute__((target(ZMM_TARGET)))
#define ZMM_INLINE static inline __attribute__((always_inline, target(ZMM_TARGET)))

// The rearranged activations live on the stack: rows up to this long, this many tokens per pass.
// Longer rows keep the 256-bit kernels.
enum { QUAD_MAX_COLS = 4096, QUAD_MAX_TOKENS = 4 };

#define PREFETCH(P) _mm_prefetch((const char *)(P) + 4096, _MM_HINT_T0)  // as avx2_q16_dot.c

/// One activation row in quad layout: (ng + 3) / 4 quads of 128 int16 in qv, 8 floats each in qs.
typedef struct { _Alignas(64) int16_t qv[QUAD_MAX_COLS]; float qs[QUAD_MAX_COLS / 16]; } quad_row;

/// One Q16 row of n values into quad layout.
ZMM static void to_quads(int n, const void *vy, quad_row *r) {
  int16_t *qv = r->qv;
  float *qs = r->qs;
  Q16_ROW(vy, n);
  const int ng = n / HK_QK, nq = (ng + 3) / 4;
  const __m128i *src = (const __m128i *)aq;
  for (int q = 0; q < nq; q++) {
    __m128i *dst = (__m128i *)(qv + 128 * q);
    for (int k = 0; k < 4; k++) {
      const int g = 4 * q + k;
      for (int i = 0; i < 4; i++) _mm_store_si128(dst + 4 * i + k, g < ng ? _mm_loadu_si128(src + 4 * g + i) : _mm_setzero_si128());
      qs[2 * g] = g < ng ? ad[g] : 0;
      qs[2 * g + 1] = g < ng ? as[g] : 0;
    }
  }
}

/// s += Σ over a quad's four weight vectors (lane k: group k) against A0..A3.
ZMM_INLINE __m512i quad_dot(__m512i w0, __m512i w1, __m512i w2, __m512i w3, const int16_t *qv) {
  const __m512i *A = (const __m512i *)qv;
  __m512i s = _mm512_madd_epi16(w0, _mm512_load_si512(A));
  s = _mm512_dpwssd_epi32(s, w1, _mm512_load_si512(A + 1));
  s = _mm512_dpwssd_epi32(s, w2, _mm512_load_si512(A + 2));
  return _mm512_dpwssd_epi32(s, w3, _mm512_load_si512(A + 3));
}

/// The quad's float step: f = [x0, x0', x1, x1', ..] (eight halves: per group a factor for d_a
/// and one for the group sum) times the activations' (d_a, d_a Σq) pairs; acc += each group's
/// first product times its int32 sums; the second products accumulate in macc.
ZMM_INLINE void quad_scale(__m128i halves, const float *qs, __m512i s, __m512 *acc, __m256 *macc) {
  const __m256 f = _mm256_mul_ps(_mm256_cvtph_ps(halves), _mm256_loadu_ps(qs));
  *macc = _mm256_add_ps(*macc, f);
  const __m512i lanes = _mm512_setr_epi32(0, 0, 0, 0, 2, 2, 2, 2, 4, 4, 4, 4, 6, 6, 6, 6);
  *acc = _mm512_fmadd_ps(_mm512_permutexvar_ps(lanes, _mm512_castps256_ps512(f)), _mm512_cvtepi32_ps(s), *acc);
}

/// Nibble words -> the four weight vectors (see the layout above).
ZMM_INLINE void quad_nibbles(__m512i w, __m512i v[4]) {
  const __m512i m = _mm512_set1_epi16(0xF);
  v[0] = _mm512_and_si512(w, m);
  v[1] = _mm512_and_si512(_mm512_srli_epi16(w, 4), m);
  v[2] = _mm512_and_si512(_mm512_srli_epi16(w, 8), m);
  v[3] = _mm512_srli_epi16(w, 12);
}

/// Σ acc + Σ of macc's odd lanes (Q4_1's m terms).
ZMM_INLINE float quad_total(__m512 acc, __m256 macc) {
  const __m256 odd = _mm256_permutevar8x32_ps(macc, _mm256_setr_epi32(1, 3, 5, 7, 1, 3, 5, 7));
  return _mm512_reduce_add_ps(acc) + hsum_ps128(_mm256_castps256_ps128(odd));
}

// ---- Q4_1: 20-byte blocks (d, m, 16 bytes of nibbles); a quad is 80 bytes ------------------

/// Loads the quad at b (groups past `groups` read as zeros) and adds it in.
ZMM_INLINE void q4_1_quad(const uint8_t *b, int groups, const int16_t *qv, const float *qs, __m512 *acc, __m256 *macc) {
  // Dwords: block k is dwords 5k (d, m) and 5k+1..5k+4 (qs); the quad's dwords 0-15 and 16-19.
  const __mmask16 lo_mask = groups >= 4 ? 0xFFFF : (__mmask16)((1u << (5 * groups)) - 1);
  const __mmask16 hi_mask = groups >= 4 ? 0x000F : 0;
  const __m512i lo = _mm512_maskz_loadu_epi32(lo_mask, b), hi = _mm512_maskz_loadu_epi32(hi_mask, b + 64);
  const __m512i qidx = _mm512_setr_epi32(1, 2, 3, 4, 6, 7, 8, 9, 11, 12, 13, 14, 16, 17, 18, 19);
  __m512i v[4];
  quad_nibbles(_mm512_permutex2var_epi32(lo, qidx, hi), v);
  const __m512i s = quad_dot(v[0], v[1], v[2], v[3], qv);
  // (d, m) of each block: halves [d0 m0 d1 m1 d2 m2 d3 m3].
  const __m512i dm = _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 5, 10, 15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), lo);
  quad_scale(_mm512_castsi512_si128(dm), qs, s, acc, macc);
}

/// dot(Q4_1 weight row, activation row in quad layout): whole quads of 80 bytes two at a time
/// (two accumulators), then a short last one.
ZMM_INLINE float q4_1_one(int n, const void *vx, const quad_row *r) {
  const uint8_t *x = vx;
  const int16_t *qv = r->qv;
  const float *qs = r->qs;
  const int ng = n / HK_QK, full = ng / 4;
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  __m256 macc = _mm256_setzero_ps();
  int q = 0;
  for (; q + 2 <= full; q += 2) {
    PREFETCH(x + 80 * q);
    PREFETCH(x + 80 * q + 64);
    PREFETCH(x + 80 * q + 128);
    q4_1_quad(x + 80 * q, 4, qv + 128 * q, qs + 8 * q, &acc0, &macc);
    q4_1_quad(x + 80 * (q + 1), 4, qv + 128 * (q + 1), qs + 8 * (q + 1), &acc1, &macc);
  }
  if (q < full) { q4_1_quad(x + 80 * q, 4, qv + 128 * q, qs + 8 * q, &acc0, &macc); q++; }
  if (4 * q < ng) q4_1_quad(x + 80 * q, ng - 4 * q, qv + 128 * q, qs + 8 * q, &acc1, &macc);
  return quad_total(_mm512_add_ps(acc0, acc1), macc);
}

// ---- Q5_0: 22-byte blocks (d, 32 fifth bits, 16 bytes of nibbles); a quad is 88 bytes -------

// Q5_0 needs two more extensions (Ice Lake and later have both): AVX512-VBMI for `vpermt2b`,
// which gathers bytes from any offset (the blocks are 22 bytes; the word permute costs three
// times as much here), and AVX512-BITALG for `vpshufbitqmb`, which turns 64 chosen bits into a
// mask in one instruction.
#define VBMI_TARGET ZMM_TARGET ",avx512vbmi,avx512bitalg"
#define VBMI __attribute__((target(VBMI_TARGET)))
#define VBMI_INLINE static inline __attribute__((always_inline, target(VBMI_TARGET)))

// vpermt2b indices into the quad's bytes (0-63 from the first load, 64-87 from the second); block
// k starts at byte 22k: d, then qh (4 bytes), then qs (16 bytes).
#define B16(k) 22 * k + 6, 22 * k + 7, 22 * k + 8, 22 * k + 9, 22 * k + 10, 22 * k + 11, 22 * k + 12, 22 * k + 13, \
               22 * k + 14, 22 * k + 15, 22 * k + 16, 22 * k + 17, 22 * k + 18, 22 * k + 19, 22 * k + 20, 22 * k + 21
static const uint8_t q5_0_nibbles[64] = {B16(0), B16(1), B16(2), B16(3)};
#undef B16

// Q5_0 meets its activations as bytes, not int16: each Q16 value q is split into a signed high
// byte and an unsigned low byte (q = 256 hi + lo), and `vpdpbusd` takes the weights (0..31, the
// fifth bit set by a byte mask) once as the unsigned side against hi and once as the signed side
// against lo. The weights then stay bytes, 64 to a register: half the nibble shifts, masks and
// fifth-bit adds of the int16 layout for the same four products per pair, and the -16 offset
// and the activation scales are laid out per lane beforehand, so the float step is one multiply
// and one FMA. Each lane's sum (a quarter of a group, offset included) is an exact integer below
// 2^24, so its conversion is exact too; against the int16 kernels only the order of the float
// adds differs. In decode, alternating tokens in one process against the int16 quad kernel
// (2 threads, 5 x tg128): Qwen2.5 1.045-1.052x, Gemma 3 1.019-1.030x; 1 thread 1.05x / 1.03x.
//
// Byte-plane layout of a quad (to_planes), 384 bytes: four zmm of activation bytes, hi of
// elements 0-15 of groups 4q..4q+3 (byte 16k + i: element i of group 4q+k), hi of elements
// 16-31 (byte 16k + i: element 16+i), then lo likewise; 16 floats d_a (lane 4k+j: group 4q+k's
// scale); 16 int32 offsets (lane 4k+j: -16 Σ q over the eight elements that lane sums, i.e.
// 4j..4j+3 and 16+4j..19+4j).
typedef struct { _Alignas(64) int8_t b[4][64]; float d[16]; int32_t off[16]; } plane_quad;
typedef struct { plane_quad q[QUAD_MAX_COLS / 128]; } plane_row;

/// One Q16 row of n values into byte-plane quads ((ng + 3) / 4 of them).
ZMM static void to_planes(int n, const void *vy, plane_row *r) {
  plane_quad *pq = r->q;
  Q16_ROW(vy, n);
  (void)as;
  const int ng = n / HK_QK, nq = (ng + 3) / 4;
  // Q16 keeps a group's even elements in words 0-15 and its odd ones in 16-31; this puts
  // elements 0-15 in words 0-15 and 16-31 in 16-31.
  static const int16_t words[32] = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23,
                                    8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  const __m512i order = _mm512_loadu_si512(words);
  for (int q = 0; q < nq; q++) {
    plane_quad *p = pq + q;
    for (int k = 0; k < 4; k++) {
      const int g = 4 * q + k;
      const __m512i x = g < ng ? _mm512_permutexvar_epi16(order, _mm512_loadu_si512(aq + (size_t)HK_QK * g)) : _mm512_setzero_si512();
      const __m256i hi = _mm512_cvtepi16_epi8(_mm512_srai_epi16(x, 8)), lo = _mm512_cvtepi16_epi8(x);
      _mm_store_si128((__m128i *)&p->b[0][16 * k], _mm256_castsi256_si128(hi));
      _mm_store_si128((__m128i *)&p->b[1][16 * k], _mm256_extracti128_si256(hi, 1));
      _mm_store_si128((__m128i *)&p->b[2][16 * k], _mm256_castsi256_si128(lo));
      _mm_store_si128((__m128i *)&p->b[3][16 * k], _mm256_extracti128_si256(lo, 1));
      // Lane j sums elements 4j..4j+3 (words 4j..) and 16+4j..19+4j (words 16+4j..).
      const __m512i pairs = _mm512_madd_epi16(x, _mm512_set1_epi16(1));
      const __m256i both = _mm256_add_epi32(_mm512_castsi512_si256(pairs), _mm512_extracti64x4_epi64(pairs, 1));
      _Alignas(32) int32_t t[8];
      _mm256_store_si256((__m256i *)t, both);
      const float d = g < ng ? ad[g] : 0;
      for (int j = 0; j < 4; j++) {
        p->d[4 * k + j] = d;
        p->off[4 * k + j] = -16 * (t[2 * j] + t[2 * j + 1]);
      }
    }
  }
}

/// Qword m holds qh of block m / 2 (twice; bits 0-31 are read).
#define QH(k) 22 * k + 2, 22 * k + 3, 22 * k + 4, 22 * k + 5, 22 * k + 2, 22 * k + 3, 22 * k + 4, 22 * k + 5
static const uint8_t q5_0_qh[64] = {QH(0), QH(0), QH(1), QH(1), QH(2), QH(2), QH(3), QH(3)};
#undef QH
/// Halves [d0 x4, d1 x4, d2 x4, d3 x4] (one per int32 lane).
#define D4(k) 22 * k, 22 * k + 1, 22 * k, 22 * k + 1, 22 * k, 22 * k + 1, 22 * k, 22 * k + 1
static const uint8_t q5_0_d[64] = {D4(0), D4(1), D4(2), D4(3)};
#undef D4
/// Bit selectors for vpshufbitqmb: mask bit 16k + i (byte i of block k's nibbles) reads qword
/// 2k + i / 8, which holds block k's qh, at bit i (low nibbles, elements 0-15) or 16 + i (high).
#define SEL16(o) (o), (o) + 1, (o) + 2, (o) + 3, (o) + 4, (o) + 5, (o) + 6, (o) + 7, \
                 (o) + 8, (o) + 9, (o) + 10, (o) + 11, (o) + 12, (o) + 13, (o) + 14, (o) + 15
static const uint8_t fifth_low[64] = {SEL16(0), SEL16(0), SEL16(0), SEL16(0)};
static const uint8_t fifth_high[64] = {SEL16(16), SEL16(16), SEL16(16), SEL16(16)};
#undef SEL16

VBMI_INLINE void q5_0_quad(const uint8_t *b, int groups, const plane_quad *p, __m512 *acc) {
  const int bytes = 22 * (groups >= 4 ? 4 : groups);
  const __mmask64 lo_mask = bytes >= 64 ? ~0ull : (1ull << bytes) - 1;
  const __mmask64 hi_mask = bytes > 64 ? (1ull << (bytes - 64)) - 1 : 0;
  const __m512i lo = _mm512_maskz_loadu_epi8(lo_mask, b), hi = _mm512_maskz_loadu_epi8(hi_mask, b + 64);
  const __m512i w = _mm512_permutex2var_epi8(lo, _mm512_loadu_si512(q5_0_nibbles), hi);
  const __m512i m4 = _mm512_set1_epi8(0xF), sixteen = _mm512_set1_epi8(16);
  __m512i v0 = _mm512_and_si512(w, m4), v1 = _mm512_and_si512(_mm512_srli_epi16(w, 4), m4);
  const __m512i qh = _mm512_permutex2var_epi8(lo, _mm512_loadu_si512(q5_0_qh), hi);
  v0 = _mm512_mask_add_epi8(v0, _mm512_bitshuffle_epi64_mask(qh, _mm512_loadu_si512(fifth_low)), v0, sixteen);
  v1 = _mm512_mask_add_epi8(v1, _mm512_bitshuffle_epi64_mask(qh, _mm512_loadu_si512(fifth_high)), v1, sixteen);
  const __m512i *A = (const __m512i *)p->b;
  __m512i sh = _mm512_dpbusd_epi32(_mm512_setzero_si512(), v0, _mm512_load_si512(A));
  sh = _mm512_dpbusd_epi32(sh, v1, _mm512_load_si512(A + 1));
  __m512i sl = _mm512_dpbusd_epi32(_mm512_load_si512(p->off), _mm512_load_si512(A + 2), v0);
  sl = _mm512_dpbusd_epi32(sl, _mm512_load_si512(A + 3), v1);
  const __m512i s = _mm512_add_epi32(_mm512_slli_epi32(sh, 8), sl);
  const __m256i dw = _mm512_castsi512_si256(_mm512_permutex2var_epi8(lo, _mm512_loadu_si512(q5_0_d), hi));
  const __m512 f = _mm512_mul_ps(_mm512_cvtph_ps(dw), _mm512_load_ps(p->d));
  *acc = _mm512_fmadd_ps(f, _mm512_cvtepi32_ps(s), *acc);
}

/// dot(Q5_0 weight row, activation row in byte planes): whole quads two at a time (two
/// accumulators), then a short last one.
VBMI_INLINE float q5_0_one(int n, const void *vx, const plane_row *r) {
  const uint8_t *x = vx;
  const plane_quad *p = r->q;
  const int ng = n / HK_QK, full = ng / 4;
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int q = 0;
  for (; q + 2 <= full; q += 2) {
    PREFETCH(x + 88 * q);
    PREFETCH(x + 88 * q + 64);
    PREFETCH(x + 88 * q + 128);
    q5_0_quad(x + 88 * q, 4, p + q, &acc0);
    q5_0_quad(x + 88 * (q + 1), 4, p + q + 1, &acc1);
  }
  if (q < full) { q5_0_quad(x + 88 * q, 4, p + q, &acc0); q++; }
  if (4 * q < ng) q5_0_quad(x + 88 * q, ng - 4 * q, p + q, &acc1);
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

// ---- entry points: the table's vec_dot and rows kernels --------------------------------------

// The AVX512VNNI table's 256-bit kernels, for rows longer than QUAD_MAX_COLS.
static hk_vec_dot_fn long_dot[HK_TYPE_COUNT];
static hk_dot_rows_fn long_rows[HK_TYPE_COUNT];

/// The vec_dot and the rows loop for one format: the rows loop rearranges up to QUAD_MAX_TOKENS
/// activation rows (PREP, into a ROW each), then meets each weight row with all of them while it
/// is in L1; the vec_dot does the same for one pair, so that both give the same bits.
#define QUAD_KERNELS(NAME, TYPE, TARGET, ROW, PREP)                                             \
  static TARGET void NAME(int n, float *s, const void *vx, const void *vy) {                   \
    if (n > QUAD_MAX_COLS) { long_dot[TYPE](n, s, vx, vy); return; }                           \
    ROW r;                                                                                      \
    PREP(n, vy, &r);                                                                            \
    *s = NAME##_one(n, vx, &r);                                                                 \
  }                                                                                             \
  static TARGET void NAME##_rows(int n, const void *w, size_t w_stride, int nrows, const void *a, size_t a_stride, \
                                 int ntok, float *out, size_t out_stride) {                     \
    if (n > QUAD_MAX_COLS) { long_rows[TYPE](n, w, w_stride, nrows, a, a_stride, ntok, out, out_stride); return; } \
    ROW r[QUAD_MAX_TOKENS];                                                                     \
    for (int t0 = 0; t0 < ntok; t0 += QUAD_MAX_TOKENS) {                                        \
      const int nt = ntok - t0 < QUAD_MAX_TOKENS ? ntok - t0 : QUAD_MAX_TOKENS;                 \
      for (int t = 0; t < nt; t++) PREP(n, (const char *)a + (size_t)(t0 + t) * a_stride, &r[t]); \
      for (int i = 0; i < nrows; i++) {                                                         \
        const void *row = (const char *)w + (size_t)i * w_stride;                               \
        for (int t = 0; t < nt; t++) out[(size_t)(t0 + t) * out_stride + i] = NAME##_one(n, row, &r[t]); \
      }                                                                                         \
    }                                                                                           \
  }

QUAD_KERNELS(q4_1, HK_Q4_1, ZMM, quad_row, to_quads)
QUAD_KERNELS(q5_0, HK_Q5_0, VBMI, plane_row, to_planes)

void hk_avx512_fill_q16_dot(hk_kernels *k) {
  static const int types[] = {HK_Q4_1, HK_Q5_0};
  for (int i = 0; i < 2; i++) {
    long_dot[types[i]] = k->vec_dot_q16[types[i]];
    long_rows[types[i]] = k->dot_rows_q16[types[i]];
  }
  k->vec_dot_q16[HK_Q4_1] = q4_1;
  k->dot_rows_q16[HK_Q4_1] = q4_1_rows;
  const unsigned vbmi = HK_FEAT_AVX512VBMI | HK_FEAT_AVX512BITALG;
  if ((hk_cpu_features() & vbmi) == vbmi) {
    k->vec_dot_q16[HK_Q5_0] = q5_0;
    k->dot_rows_q16[HK_Q5_0] = q5_0_rows;
  }
}
#endif
