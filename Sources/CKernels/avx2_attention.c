// AVX2 gated activations and attention. Both need exp, done here eight lanes at a time: libm's
// scalar tanhf and expf were a sixth of prompt processing on Gemma.
#include "avx2.h"
#if defined(__x86_64__)
#include <math.h>

/// e^x to within ~2 ulp (Cephes expf: x = n ln2 + r, |r| <= ln2 / 2, e^r by a degree-6
/// polynomial). Inputs are clamped to [-87.3, 88.7], so the result is a finite normal float.
AVX2_INLINE __m256 exp_ps(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3365448f)), _mm256_set1_ps(88.7228391f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/// x / (1 + e^(-k x)) for each lane: silu at k = 1; gelu_tanh's 0.5 x (1 + tanh(u)) is the same
/// with -k x replaced by -2u.
AVX2_INLINE __m256 sigmoid_times(__m256 x, __m256 minus_arg) {
  return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), exp_ps(minus_arg)));
}

/// Runs `body` over n floats, eight at a time; the tail goes through a padded buffer so every
/// element takes the same arithmetic.
#define EACH8(N, BODY)                                                      \
  do {                                                                      \
    int i_ = 0;                                                             \
    for (; i_ + 8 <= (N); i_ += 8) { float *gp = g + i_; const float *up = u + i_; BODY; } \
    if (i_ < (N)) {                                                         \
      float gb[8] = {0}, ub[8] = {0};                                       \
      memcpy(gb, g + i_, (size_t)((N) - i_) * 4);                           \
      memcpy(ub, u + i_, (size_t)((N) - i_) * 4);                           \
      { float *gp = gb; const float *up = ub; BODY; }                       \
      memcpy(g + i_, gb, (size_t)((N) - i_) * 4);                           \
    }                                                                       \
  } while (0)

static AVX2 void silu_mul(int n, float *g, const float *u) {
  EACH8(n, {
    const __m256 x = _mm256_loadu_ps(gp);
    _mm256_storeu_ps(gp, _mm256_mul_ps(sigmoid_times(x, _mm256_sub_ps(_mm256_setzero_ps(), x)), _mm256_loadu_ps(up)));
  });
}

static AVX2 void gelu_mul(int n, float *g, const float *u) {
  // -2u = -2 sqrt(2/pi) (x + 0.044715 x^3)
  const __m256 k = _mm256_set1_ps(-1.5957691216057308f), c = _mm256_set1_ps(0.044715f);
  EACH8(n, {
    const __m256 x = _mm256_loadu_ps(gp);
    const __m256 arg = _mm256_mul_ps(_mm256_mul_ps(k, x), _mm256_fmadd_ps(_mm256_mul_ps(c, x), x, _mm256_set1_ps(1.0f)));
    _mm256_storeu_ps(gp, _mm256_mul_ps(sigmoid_times(x, arg), _mm256_loadu_ps(up)));
  });
}

// ---- attention -------------------------------------------------------------------------------

enum { QT = 4 };  // queries per tile

/// Eight elements of a cache row from element i, f32 or f16 (`f16` is a constant at every call,
/// so each kernel below compiles into an f32 and an f16 version with no branch inside).
AVX2_INLINE __m256 kv8(const void *row, int i, int f16) {
  return f16 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const hk_half *)row + i)))
             : _mm256_loadu_ps((const float *)row + i);
}

AVX2_INLINE float kv1(const void *row, int i, int f16) {
  return f16 ? hk_fp16_to_f32(((const hk_half *)row)[i]) : ((const float *)row)[i];
}

/// Row j of a block's rows of hd elements.
AVX2_INLINE const void *kv_row(const void *block, size_t j, int hd, int f16) {
  return f16 ? (const void *)((const hk_half *)block + j * (size_t)hd) : (const void *)((const float *)block + j * (size_t)hd);
}

/// Scores of NQ (1-4, a constant at every call) queries against keys j0..j1 of one block (rows
/// of hd elements). KT keys at a time, so that the NQ * KT sums are independent FMA chains and
/// their horizontal sums go four at a time.
AVX2_INLINE void scores(const float *const q[QT], const int NQ, const void *K, int hd, int j0, int j1, float scale, float *S,
                        int bt, int f16) {
  const int KT = NQ <= 2 ? 4 : 2;
  const __m256 zero = _mm256_setzero_ps();
  int j = j0;
  for (; j + KT <= j1 + 1; j += KT) {
    const void *kr[4];
    __m256 a[QT * 4];  // a[t * NQ + i]: key j + t, query i
    for (int t = 0; t < KT; t++) kr[t] = kv_row(K, (size_t)(j + t), hd, f16);
    for (int x = 0; x < NQ * KT; x++) a[x] = zero;
    int d = 0;
    for (; d + 8 <= hd; d += 8) {
      for (int t = 0; t < KT; t++) {
        const __m256 k = kv8(kr[t], d, f16);
        for (int i = 0; i < NQ; i++) a[t * NQ + i] = _mm256_fmadd_ps(_mm256_loadu_ps(q[i] + d), k, a[t * NQ + i]);
      }
    }
    float s[QT * 4];
    for (int x = 0; x < NQ * KT; x += 4)
      _mm_storeu_ps(s + x, hsum4_ps(a[x], x + 1 < NQ * KT ? a[x + 1] : zero, x + 2 < NQ * KT ? a[x + 2] : zero,
                                    x + 3 < NQ * KT ? a[x + 3] : zero));
    for (; d < hd; d++)
      for (int t = 0; t < KT; t++) for (int i = 0; i < NQ; i++) s[t * NQ + i] += q[i][d] * kv1(kr[t], d, f16);
    for (int t = 0; t < KT; t++) for (int i = 0; i < NQ; i++) S[i * bt + j + t] = s[t * NQ + i] * scale;
  }
  for (; j <= j1; j++) {
    const void *kr = kv_row(K, (size_t)j, hd, f16);
    __m256 a[QT];
    for (int i = 0; i < NQ; i++) a[i] = zero;
    int d = 0;
    for (; d + 8 <= hd; d += 8) {
      const __m256 k = kv8(kr, d, f16);
      for (int i = 0; i < NQ; i++) a[i] = _mm256_fmadd_ps(_mm256_loadu_ps(q[i] + d), k, a[i]);
    }
    float s[4];
    _mm_storeu_ps(s, hsum4_ps(a[0], NQ > 1 ? a[1] : zero, NQ > 2 ? a[2] : zero, NQ > 3 ? a[3] : zero));
    for (; d < hd; d++) for (int i = 0; i < NQ; i++) s[i] += q[i][d] * kv1(kr, d, f16);
    for (int i = 0; i < NQ; i++) S[i * bt + j] = s[i] * scale;
  }
}

/// exp(S[j] - m) for j0..j1 in place; returns their sum.
AVX2_INLINE float exp_row(float *S, int j0, int j1, float m) {
  const __m256 vm = _mm256_set1_ps(m);
  __m256 sum = _mm256_setzero_ps();
  int j = j0;
  for (; j + 8 <= j1 + 1; j += 8) {
    const __m256 e = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(S + j), vm));
    _mm256_storeu_ps(S + j, e);
    sum = _mm256_add_ps(sum, e);
  }
  float total = hsum_ps(sum);
  if (j <= j1) {
    float b[8];
    for (int t = 0; t < 8; t++) b[t] = j + t <= j1 ? S[j + t] - m : -INFINITY;
    _mm256_storeu_ps(b, exp_ps(_mm256_loadu_ps(b)));
    for (int t = 0; j + t <= j1; t++) { S[j + t] = b[t]; total += b[t]; }
  }
  return total;
}

/// The largest of S[a0..a1].
AVX2_INLINE float max_range(const float *S, int a0, int a1) {
  __m256 m = _mm256_set1_ps(-INFINITY);
  int j = a0;
  for (; j + 8 <= a1 + 1; j += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(S + j));
  float r = hmax_ps(m);
  for (; j <= a1; j++) r = S[j] > r ? S[j] : r;
  return r;
}

/// out_i[d, d + 8 CH) += Σ_j w_ij v_j over keys j0..j1: each value chunk is loaded (and widened)
/// once for all NQ queries, and the NQ * CH sums are independent FMA chains. Every output lane
/// sums its keys in order whatever NQ and CH are, so a query's result does not depend on the tile
/// it ran in (batch invariance: a sequence scores the same alone or batched).
AVX2_INLINE void values_pass(float *const o[QT], const int NQ, const int CH, const void *V, int hd, int d, int j0, int j1,
                             const float *S, int bt, int f16) {
  __m256 c[QT][4];
  for (int i = 0; i < NQ; i++) for (int u = 0; u < CH; u++) c[i][u] = _mm256_loadu_ps(o[i] + d + 8 * u);
  for (int j = j0; j <= j1; j++) {
    const void *vr = kv_row(V, (size_t)j, hd, f16);
    __m256 v[4];
    for (int u = 0; u < CH; u++) v[u] = kv8(vr, d + 8 * u, f16);
    for (int i = 0; i < NQ; i++) {
      const __m256 w = _mm256_broadcast_ss(S + i * bt + j);
      for (int u = 0; u < CH; u++) c[i][u] = _mm256_fmadd_ps(w, v[u], c[i][u]);
    }
  }
  for (int i = 0; i < NQ; i++) for (int u = 0; u < CH; u++) _mm256_storeu_ps(o[i] + d + 8 * u, c[i][u]);
}

/// Prefetches every cache line of [p, p + bytes) into L1.
AVX2_INLINE void prefetch_bytes(const void *p, size_t bytes) {
  for (size_t off = 0; off < bytes; off += 64) _mm_prefetch((const char *)p + off, _MM_HINT_T0);
}

/// Queries i0 .. i0 + NQ - 1 (NQ 1-4, a constant at every call).
AVX2_INLINE void attend_tile(const hk_attention *a, int i0, const int NQ, const int f16) {
  const int hd = a->hd, bt = a->block_tokens;
  // Value chunks per pass: 6-8 independent sums (4 for a lone query), within 16 registers.
  const int CH = NQ <= 2 ? 4 : 2;
  const float *q[QT];
  float *o[QT];
  int lo[QT], hi[QT];
  float m[QT], l[QT];
  float *S = a->scratch;
  int kmin = 1 << 30, kmax = -1;
  for (int i = 0; i < NQ; i++) {
    const int k = i0 + i;
    q[i] = a->q + (size_t)k * a->q_stride;
    o[i] = a->out + (size_t)k * a->out_stride;
    lo[i] = a->lo[k];
    hi[i] = a->hi[k];
    m[i] = -INFINITY;
    l[i] = 0;
    kmin = lo[i] < kmin ? lo[i] : kmin;
    kmax = hi[i] > kmax ? hi[i] : kmax;
    memset(o[i], 0, (size_t)hd * 4);
  }
  const size_t block_bytes = (size_t)bt * (size_t)hd * (f16 ? 2 : 4);
  for (int p0 = kmin - kmin % bt; p0 <= kmax && kmin <= kmax; p0 += bt) {
    const size_t blk = (size_t)a->table[p0 / bt] * a->block_stride;
    const void *K = kv_row(a->k, blk, 1, f16), *V = kv_row(a->v, blk, 1, f16);
    if (p0 + bt <= kmax) {
      // The next block's rows: a sequence's blocks need not be adjacent (the pool reuses freed
      // ones), and the hardware prefetcher stops at page boundaries. With each head's blocks 4 KB
      // apart, keys and values streamed at 0.6x the speed of one run without it, 0.7x with it.
      const size_t next = (size_t)a->table[p0 / bt + 1] * a->block_stride;
      prefetch_bytes(kv_row(a->k, next, 1, f16), block_bytes);
      prefetch_bytes(kv_row(a->v, next, 1, f16), block_bytes);
    }
    const int j0 = (kmin > p0 ? kmin : p0) - p0, j1 = (kmax < p0 + bt - 1 ? kmax : p0 + bt - 1) - p0;
    scores(q, NQ, K, hd, j0, j1, a->scale, S, bt, f16);
    for (int i = 0; i < NQ; i++) {
      float *row = S + i * bt;
      // Keys outside this query's range weigh nothing.
      const int a0 = lo[i] - p0 > j0 ? lo[i] - p0 : j0, a1 = hi[i] - p0 < j1 ? hi[i] - p0 : j1;
      if (a0 > a1) { for (int j = j0; j <= j1; j++) row[j] = 0; continue; }
      const float mb = max_range(row, a0, a1);
      const float mn = mb > m[i] ? mb : m[i];
      for (int j = j0; j < a0; j++) row[j] = 0;
      for (int j = a1 + 1; j <= j1; j++) row[j] = 0;
      const float sum = exp_row(row, a0, a1, mn);
      if (mn > m[i] && l[i] > 0) {
        // The running maximum grew: earlier weights shrink by e^(m_old - m_new).
        float alpha;
        _mm_store_ss(&alpha, _mm256_castps256_ps128(exp_ps(_mm256_set1_ps(m[i] - mn))));
        l[i] *= alpha;
        const __m256 va = _mm256_set1_ps(alpha);
        int d = 0;
        for (; d + 8 <= hd; d += 8) _mm256_storeu_ps(o[i] + d, _mm256_mul_ps(va, _mm256_loadu_ps(o[i] + d)));
        for (; d < hd; d++) o[i][d] *= alpha;
      }
      m[i] = mn;
      l[i] += sum;
    }
    int d = 0;
    for (; d + 8 * CH <= hd; d += 8 * CH) values_pass(o, NQ, CH, V, hd, d, j0, j1, S, bt, f16);
    for (; d + 8 <= hd; d += 8) values_pass(o, NQ, 1, V, hd, d, j0, j1, S, bt, f16);
    for (; d < hd; d++)
      for (int i = 0; i < NQ; i++) {
        float c = o[i][d];
        for (int j = j0; j <= j1; j++) c += S[i * bt + j] * kv1(kv_row(V, (size_t)j, hd, f16), d, f16);
        o[i][d] = c;
      }
  }
  for (int i = 0; i < NQ; i++) {
    const float inv = l[i] > 0 ? 1 / l[i] : 0;
    for (int d = 0; d < hd; d++) o[i][d] *= inv;
    if (a->lse) a->lse[i0 + i] = l[i] > 0 ? m[i] + logf(l[i]) : -INFINITY;
  }
}

/// Four queries at a time, then the remaining one to three in a tile of their own size.
AVX2_INLINE void attend_all(const hk_attention *a, const int f16) {
  int i0 = 0;
  for (; i0 + QT <= a->nq; i0 += QT) attend_tile(a, i0, 4, f16);
  switch (a->nq - i0) {
  case 3: attend_tile(a, i0, 3, f16); break;
  case 2: attend_tile(a, i0, 2, f16); break;
  case 1: attend_tile(a, i0, 1, f16); break;
  default: break;
  }
}

static AVX2 void attend_f32(const hk_attention *a) { attend_all(a, 0); }

static AVX2 void attend_f16(const hk_attention *a) { attend_all(a, 1); }

static AVX2 void attend(const hk_attention *a) {
  if (a->kv_f16) attend_f16(a);
  else attend_f32(a);
}

/// vcvtps2ph rounds to nearest even like hk_f32_to_fp16; the tail goes through a padded buffer.
static AVX2 void to_f16(int n, const float *x, hk_half *y) {
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  }
  if (i < n) {
    float b[8] = {0};
    hk_half h[8];
    memcpy(b, x + i, (size_t)(n - i) * 4);
    _mm_storeu_si128((__m128i *)h, _mm256_cvtps_ph(_mm256_loadu_ps(b), _MM_FROUND_TO_NEAREST_INT));
    memcpy(y + i, h, (size_t)(n - i) * 2);
  }
}

void hk_avx2_fill_attention(hk_kernels *k) {
  k->silu_mul = silu_mul;
  k->gelu_mul = gelu_mul;
  k->attend = attend;
  k->to_f16 = to_f16;
}
#endif
