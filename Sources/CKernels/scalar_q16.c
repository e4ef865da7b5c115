// Level 0 kernels against Q16 activations (int16 per value, f32 scale per 32): portable C.
// Integer dot per group of 32 (exact in int32), then scaled in float, as the AVX2 kernels do.
#include "internal.h"

/// Element j (0..31) of a Q16 group: even elements first, then odd ones.
#define A16(a, j) (a)[((j) & 1) ? 16 + ((j) >> 1) : ((j) >> 1)]

// ---- activation quantization (same arithmetic as the Swift reference: bit-identical) -------

static void quantize_q16(const float *x, void *vy, int n) {
  int16_t *q = vy;
  float *d = (float *)(q + n), *s = d + n / HK_QK;
  for (int g = 0; g < n / HK_QK; g++, x += HK_QK, q += HK_QK) {
    float amax = 0;
    for (int j = 0; j < HK_QK; j++) { float a = __builtin_fabsf(x[j]); amax = amax > a ? amax : a; }
    const float dg = amax / HK_Q16_MAX, id = dg != 0 ? 1.0f / dg : 0.0f;
    int sum = 0;
    for (int j = 0; j < HK_QK; j++) {
      int v = hk_nearest_int(x[j] * id);
      v = v > HK_Q16_MAX ? HK_Q16_MAX : (v < -HK_Q16_MAX ? -HK_Q16_MAX : v);
      A16(q, j) = (int16_t)v;
      sum += v;
    }
    d[g] = dg;
    s[g] = dg * (float)sum;
  }
}

/// The pieces of a Q16 row.
#define Q16_ROW(vy, n)                                                 \
  const int16_t *aq = (const int16_t *)(vy);                           \
  const float *ad = (const float *)(aq + (n)), *as = ad + (n) / HK_QK

// ---- legacy dots: per group, Σ w*a in int, times d_w * d_a; mins times s_a ------------------

static void dot_q4_0(int n, float *s, const void *vx, const void *vy) {
  const hk_block_q4_0 *x = vx;
  Q16_ROW(vy, n);
  float sum = 0;
  for (int g = 0; g < n / HK_QK; g++, aq += HK_QK) {
    int isum = 0;
    for (int j = 0; j < 16; j++) isum += ((x[g].qs[j] & 0xF) - 8) * A16(aq, j) + ((x[g].qs[j] >> 4) - 8) * A16(aq, j + 16);
    sum += (float)isum * (hk_fp16_to_f32(x[g].d) * ad[g]);
  }
  *s = sum;
}

static void dot_q4_1(int n, float *s, const void *vx, const void *vy) {
  const hk_block_q4_1 *x = vx;
  Q16_ROW(vy, n);
  float sum = 0;
  for (int g = 0; g < n / HK_QK; g++, aq += HK_QK) {
    int isum = 0;
    for (int j = 0; j < 16; j++) isum += (x[g].qs[j] & 0xF) * A16(aq, j) + (x[g].qs[j] >> 4) * A16(aq, j + 16);
    sum += (float)isum * (hk_fp16_to_f32(x[g].d) * ad[g]) + hk_fp16_to_f32(x[g].m) * as[g];
  }
  *s = sum;
}

static void dot_q5_0(int n, float *s, const void *vx, const void *vy) {
  const hk_block_q5_0 *x = vx;
  Q16_ROW(vy, n);
  float sum = 0;
  for (int g = 0; g < n / HK_QK; g++, aq += HK_QK) {
    uint32_t qh; memcpy(&qh, x[g].qh, 4);
    int isum = 0;
    for (int j = 0; j < 16; j++) {
      int v0 = ((x[g].qs[j] & 0xF) | (((qh >> j) & 1) << 4)) - 16;
      int v1 = ((x[g].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16;
      isum += v0 * A16(aq, j) + v1 * A16(aq, j + 16);
    }
    sum += (float)isum * (hk_fp16_to_f32(x[g].d) * ad[g]);
  }
  *s = sum;
}

static void dot_q5_1(int n, float *s, const void *vx, const void *vy) {
  const hk_block_q5_1 *x = vx;
  Q16_ROW(vy, n);
  float sum = 0;
  for (int g = 0; g < n / HK_QK; g++, aq += HK_QK) {
    uint32_t qh; memcpy(&qh, x[g].qh, 4);
    int isum = 0;
    for (int j = 0; j < 16; j++) {
      int v0 = (x[g].qs[j] & 0xF) | (((qh >> j) & 1) << 4);
      int v1 = (x[g].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
      isum += v0 * A16(aq, j) + v1 * A16(aq, j + 16);
    }
    sum += (float)isum * (hk_fp16_to_f32(x[g].d) * ad[g]) + hk_fp16_to_f32(x[g].m) * as[g];
  }
  *s = sum;
}

static void dot_q8_0(int n, float *s, const void *vx, const void *vy) {
  const hk_block_q8_0 *x = vx;
  Q16_ROW(vy, n);
  float sum = 0;
  for (int g = 0; g < n / HK_QK; g++, aq += HK_QK) {
    int isum = 0;
    for (int j = 0; j < HK_QK; j++) isum += x[g].qs[j] * A16(aq, j);
    sum += (float)isum * (hk_fp16_to_f32(x[g].d) * ad[g]);
  }
  *s = sum;
}

// ---- K-quants: a Q4_K/Q5_K sub-block is one activation group; Q6_K has two per group -------

static void dot_q4_K(int n, float *s, const void *vx, const void *vy) {
  const hk_block_q4_K *x = vx;
  Q16_ROW(vy, n);
  float sum = 0;
  for (int i = 0; i < n / HK_QK_K; i++) {
    const float d = hk_fp16_to_f32(x[i].d), dmin = hk_fp16_to_f32(x[i].dmin);
    for (int j = 0; j < 8; j++) {
      uint8_t sc, m;
      hk_scale_min_k4(j, x[i].scales, &sc, &m);
      const uint8_t *q = x[i].qs + (j / 2) * 32;
      const int16_t *a = aq + (8 * i + j) * HK_QK;
      const int shift = (j & 1) * 4;
      int isum = 0;
      for (int l = 0; l < 32; l++) isum += ((q[l] >> shift) & 0xF) * A16(a, l);
      sum += (float)isum * (d * (float)sc * ad[8 * i + j]) - dmin * (float)m * as[8 * i + j];
    }
  }
  *s = sum;
}

static void dot_q5_K(int n, float *s, const void *vx, const void *vy) {
  const hk_block_q5_K *x = vx;
  Q16_ROW(vy, n);
  float sum = 0;
  for (int i = 0; i < n / HK_QK_K; i++) {
    const float d = hk_fp16_to_f32(x[i].d), dmin = hk_fp16_to_f32(x[i].dmin);
    for (int j = 0; j < 8; j++) {
      uint8_t sc, m;
      hk_scale_min_k4(j, x[i].scales, &sc, &m);
      const uint8_t *q = x[i].qs + (j / 2) * 32;
      const int16_t *a = aq + (8 * i + j) * HK_QK;
      const int shift = (j & 1) * 4;
      int isum = 0;
      for (int l = 0; l < 32; l++) isum += (((q[l] >> shift) & 0xF) | (((x[i].qh[l] >> j) & 1) << 4)) * A16(a, l);
      sum += (float)isum * (d * (float)sc * ad[8 * i + j]) - dmin * (float)m * as[8 * i + j];
    }
  }
  *s = sum;
}

static void dot_q6_K(int n, float *s, const void *vx, const void *vy) {
  const hk_block_q6_K *x = vx;
  Q16_ROW(vy, n);
  float sum = 0;
  int8_t v[HK_QK_K];
  for (int i = 0; i < n / HK_QK_K; i++) {
    const uint8_t *ql = x[i].ql, *qh = x[i].qh;
    for (int c = 0; c < 2; c++, ql += 64, qh += 32) {
      int8_t *o = v + 128 * c;
      for (int l = 0; l < 32; l++) {
        o[l] = (int8_t)((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        o[l + 32] = (int8_t)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        o[l + 64] = (int8_t)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        o[l + 96] = (int8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      }
    }
    const float d = hk_fp16_to_f32(x[i].d);
    for (int k = 0; k < 16; k++) {
      const int16_t *a = aq + i * HK_QK_K + 32 * (k / 2);
      const int base = 16 * (k & 1);
      int isum = 0;
      for (int l = 0; l < 16; l++) isum += v[16 * k + l] * A16(a, base + l);
      sum += (float)isum * (d * (float)x[i].scales[k] * ad[8 * i + k / 2]);
    }
  }
  *s = sum;
}

void hk_scalar_fill_q16(hk_kernels *k) {
  k->quantize_q16 = quantize_q16;
  k->vec_dot_q16[HK_Q4_0] = dot_q4_0;
  k->vec_dot_q16[HK_Q4_1] = dot_q4_1;
  k->vec_dot_q16[HK_Q5_0] = dot_q5_0;
  k->vec_dot_q16[HK_Q5_1] = dot_q5_1;
  k->vec_dot_q16[HK_Q8_0] = dot_q8_0;
  k->vec_dot_q16[HK_Q4_K] = dot_q4_K;
  k->vec_dot_q16[HK_Q5_K] = dot_q5_K;
  k->vec_dot_q16[HK_Q6_K] = dot_q6_K;
}
