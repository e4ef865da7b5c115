// Level 0: the gated activations and attention in portable C (libm's expf and tanhf).
#include "internal.h"
#include <math.h>

static void silu_mul(int n, float *g, const float *u) {
  for (int i = 0; i < n; i++) g[i] = g[i] / (1 + expf(-g[i])) * u[i];
}

/// 0.5 x (1 + tanh(u)) written as x / (1 + e^(-2u)): no cancellation where tanh(u) is near -1.
static void gelu_mul(int n, float *g, const float *u) {
  const float c = 1.5957691216057308f;  // 2 sqrt(2/pi)
  for (int i = 0; i < n; i++) {
    const float x = g[i];
    g[i] = x / (1 + expf(-c * x * (1 + 0.044715f * x * x))) * u[i];
  }
}

/// Element i of a cache row, f32 or f16.
static inline float kv_at(const hk_attention *a, const void *row, int i) {
  return a->kv_f16 ? hk_fp16_to_f32(((const hk_half *)row)[i]) : ((const float *)row)[i];
}

static const void *key_row(const hk_attention *a, const void *base, int p) {
  const size_t e = (size_t)a->table[p / a->block_tokens] * a->block_stride + (size_t)(p % a->block_tokens) * a->hd;
  return a->kv_f16 ? (const void *)((const hk_half *)base + e) : (const void *)((const float *)base + e);
}

static float dot(const hk_attention *a, const float *x, const void *y, int n) {
  float s = 0;
  for (int i = 0; i < n; i++) s += x[i] * kv_at(a, y, i);
  return s;
}

/// Per query: the largest score, then exp-weighted values (each score computed twice, which
/// needs no scratch; this level is the portable fallback).
static void attend(const hk_attention *a) {
  for (int i = 0; i < a->nq; i++) {
    const float *q = a->q + (size_t)i * a->q_stride;
    float *o = a->out + (size_t)i * a->out_stride;
    float m = -INFINITY, l = 0;
    for (int p = a->lo[i]; p <= a->hi[i]; p++) {
      const float s = a->scale * dot(a, q, key_row(a, a->k, p), a->hd);
      m = s > m ? s : m;
    }
    for (int d = 0; d < a->hd; d++) o[d] = 0;
    for (int p = a->lo[i]; p <= a->hi[i]; p++) {
      const float e = expf(a->scale * dot(a, q, key_row(a, a->k, p), a->hd) - m);
      const void *v = key_row(a, a->v, p);
      l += e;
      for (int d = 0; d < a->hd; d++) o[d] += e * kv_at(a, v, d);
    }
    const float inv = l > 0 ? 1 / l : 0;
    for (int d = 0; d < a->hd; d++) o[d] *= inv;
    if (a->lse) a->lse[i] = l > 0 ? m + logf(l) : -INFINITY;
  }
}

static void to_f16(int n, const float *x, hk_half *y) {
  for (int i = 0; i < n; i++) y[i] = hk_f32_to_fp16(x[i]);
}

void hk_scalar_fill_attention(hk_kernels *k) {
  k->silu_mul = silu_mul;
  k->gelu_mul = gelu_mul;
  k->attend = attend;
  k->to_f16 = to_f16;
}
