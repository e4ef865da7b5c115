// Level 0: portable C for every kernel. Integer dot products per block, scaled in float, as
// ggml's generic kernels do; the compiler may auto-vectorize with the baseline (SSE2) only.
#include "internal.h"

// ---- activation quantization (same arithmetic as the Swift reference: bit-identical) -------

static void quantize_q8_0(const float *x, void *vy, int n) {
  hk_block_q8_0 *y = vy;
  for (int i = 0; i < n / HK_QK; i++, x += HK_QK) {
    float amax = 0;
    for (int j = 0; j < HK_QK; j++) { float a = __builtin_fabsf(x[j]); amax = amax > a ? amax : a; }
    float d = amax / 127, id = d != 0 ? 1.0f / d : 0.0f;
    y[i].d = hk_f32_to_fp16(d);
    for (int j = 0; j < HK_QK; j++) y[i].qs[j] = hk_round_i8(x[j] * id);
  }
}

static void quantize_q8_1(const float *x, void *vy, int n) {
  hk_block_q8_1 *y = vy;
  for (int i = 0; i < n / HK_QK; i++, x += HK_QK) {
    float amax = 0;
    for (int j = 0; j < HK_QK; j++) { float a = __builtin_fabsf(x[j]); amax = amax > a ? amax : a; }
    float d = amax / 127, id = d != 0 ? 1.0f / d : 0.0f;
    y[i].d = hk_f32_to_fp16(d);
    int sum = 0;
    for (int j = 0; j < HK_QK; j++) { y[i].qs[j] = hk_round_i8(x[j] * id); sum += y[i].qs[j]; }
    y[i].s = hk_f32_to_fp16((float)sum * d);
  }
}

static void quantize_q8_K(const float *x, void *vy, int n) {
  hk_block_q8_K *y = vy;
  for (int i = 0; i < n / HK_QK_K; i++, x += HK_QK_K) {
    float amax = 0, max = 0;
    for (int j = 0; j < HK_QK_K; j++) {
      float a = __builtin_fabsf(x[j]);
      if (a > amax) { amax = a; max = x[j]; }
    }
    if (amax == 0) { memset(&y[i], 0, sizeof y[i]); continue; }
    float iscale = -127.f / max;
    for (int j = 0; j < HK_QK_K; j++) {
      int v = hk_nearest_int(iscale * x[j]);
      y[i].qs[j] = (int8_t)(v < 127 ? v : 127);
    }
    for (int g = 0; g < HK_QK_K / 16; g++) {
      int sum = 0;
      for (int l = 0; l < 16; l++) sum += y[i].qs[16 * g + l];
      y[i].bsums[g] = (int16_t)sum;
    }
    y[i].d = 1 / iscale;
  }
}

// ---- legacy dots ---------------------------------------------------------------------------

static void dot_q4_0(int n, float *s, const void *vx, const void *vy) {
  const hk_block_q4_0 *x = vx; const hk_block_q8_0 *y = vy;
  float sum = 0;
  for (int i = 0; i < n / HK_QK; i++) {
    int sumi = 0;
    for (int j = 0; j < 16; j++)
      sumi += ((x[i].qs[j] & 0xF) - 8) * y[i].qs[j] + ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + 16];
    sum += (float)sumi * (hk_fp16_to_f32(x[i].d) * hk_fp16_to_f32(y[i].d));
  }
  *s = sum;
}

static void dot_q4_1(int n, float *s, const void *vx, const void *vy) {
  const hk_block_q4_1 *x = vx; const hk_block_q8_1 *y = vy;
  float sum = 0;
  for (int i = 0; i < n / HK_QK; i++) {
    int sumi = 0;
    for (int j = 0; j < 16; j++) sumi += (x[i].qs[j] & 0xF) * y[i].qs[j] + (x[i].qs[j] >> 4) * y[i].qs[j + 16];
    sum += (float)sumi * (hk_fp16_to_f32(x[i].d) * hk_fp16_to_f32(y[i].d)) + hk_fp16_to_f32(x[i].m) * hk_fp16_to_f32(y[i].s);
  }
  *s = sum;
}

static void dot_q5_0(int n, float *s, const void *vx, const void *vy) {
  const hk_block_q5_0 *x = vx; const hk_block_q8_0 *y = vy;
  float sum = 0;
  for (int i = 0; i < n / HK_QK; i++) {
    uint32_t qh; memcpy(&qh, x[i].qh, 4);
    int sumi = 0;
    for (int j = 0; j < 16; j++) {
      int v0 = ((x[i].qs[j] & 0xF) | (((qh >> j) & 1) << 4)) - 16;
      int v1 = ((x[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16;
      sumi += v0 * y[i].qs[j] + v1 * y[i].qs[j + 16];
    }
    sum += (float)sumi * (hk_fp16_to_f32(x[i].d) * hk_fp16_to_f32(y[i].d));
  }
  *s = sum;
}

static void dot_q5_1(int n, float *s, const void *vx, const void *vy) {
  const hk_block_q5_1 *x = vx; const hk_block_q8_1 *y = vy;
  float sum = 0;
  for (int i = 0; i < n / HK_QK; i++) {
    uint32_t qh; memcpy(&qh, x[i].qh, 4);
    int sumi = 0;
    for (int j = 0; j < 16; j++) {
      int v0 = (x[i].qs[j] & 0xF) | (((qh >> j) & 1) << 4);
      int v1 = (x[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
      sumi += v0 * y[i].qs[j] + v1 * y[i].qs[j + 16];
    }
    sum += (float)sumi * (hk_fp16_to_f32(x[i].d) * hk_fp16_to_f32(y[i].d)) + hk_fp16_to_f32(x[i].m) * hk_fp16_to_f32(y[i].s);
  }
  *s = sum;
}

static void dot_q8_0(int n, float *s, const void *vx, const void *vy) {
  const hk_block_q8_0 *x = vx; const hk_block_q8_0 *y = vy;
  float sum = 0;
  for (int i = 0; i < n / HK_QK; i++) {
    int sumi = 0;
    for (int j = 0; j < HK_QK; j++) sumi += x[i].qs[j] * y[i].qs[j];
    sum += (float)sumi * (hk_fp16_to_f32(x[i].d) * hk_fp16_to_f32(y[i].d));
  }
  *s = sum;
}

// ---- K-quant dots --------------------------------------------------------------------------

static void dot_q4_K(int n, float *s, const void *vx, const void *vy) {
  const hk_block_q4_K *x = vx; const hk_block_q8_K *y = vy;
  float sum = 0;
  for (int i = 0; i < n / HK_QK_K; i++) {
    int sumi = 0, summ = 0;
    for (int j = 0; j < 8; j++) {
      uint8_t sc, m;
      hk_scale_min_k4(j, x[i].scales, &sc, &m);
      const uint8_t *q = x[i].qs + (j / 2) * 32;
      const int8_t *a = y[i].qs + j * 32;
      int shift = (j & 1) * 4, isum = 0;
      for (int l = 0; l < 32; l++) isum += ((q[l] >> shift) & 0xF) * a[l];
      sumi += sc * isum;
      summ += m * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
    }
    float d = y[i].d * hk_fp16_to_f32(x[i].d), dmin = y[i].d * hk_fp16_to_f32(x[i].dmin);
    sum += d * (float)sumi - dmin * (float)summ;
  }
  *s = sum;
}

static void dot_q5_K(int n, float *s, const void *vx, const void *vy) {
  const hk_block_q5_K *x = vx; const hk_block_q8_K *y = vy;
  float sum = 0;
  for (int i = 0; i < n / HK_QK_K; i++) {
    int sumi = 0, summ = 0;
    for (int j = 0; j < 8; j++) {
      uint8_t sc, m;
      hk_scale_min_k4(j, x[i].scales, &sc, &m);
      const uint8_t *q = x[i].qs + (j / 2) * 32;
      const int8_t *a = y[i].qs + j * 32;
      int shift = (j & 1) * 4, isum = 0;
      for (int l = 0; l < 32; l++) isum += (((q[l] >> shift) & 0xF) | (((x[i].qh[l] >> j) & 1) << 4)) * a[l];
      sumi += sc * isum;
      summ += m * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
    }
    float d = y[i].d * hk_fp16_to_f32(x[i].d), dmin = y[i].d * hk_fp16_to_f32(x[i].dmin);
    sum += d * (float)sumi - dmin * (float)summ;
  }
  *s = sum;
}

static void dot_q6_K(int n, float *s, const void *vx, const void *vy) {
  const hk_block_q6_K *x = vx; const hk_block_q8_K *y = vy;
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
    int sumi = 0;
    for (int g = 0; g < 16; g++) {
      int isum = 0;
      for (int l = 0; l < 16; l++) isum += v[16 * g + l] * y[i].qs[16 * g + l];
      sumi += x[i].scales[g] * isum;
    }
    sum += hk_fp16_to_f32(x[i].d) * y[i].d * (float)sumi;
  }
  *s = sum;
}

// ---- float rows ----------------------------------------------------------------------------

static float dot_f32_f32(int n, const float *a, const float *b) {
  float s = 0;
  for (int i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}
static void dot_f32(int n, float *s, const void *x, const void *y) { *s = dot_f32_f32(n, x, y); }
static void dot_f16(int n, float *s, const void *vx, const void *vy) {
  const hk_half *x = vx; const float *y = vy;
  float sum = 0;
  for (int i = 0; i < n; i++) sum += hk_fp16_to_f32(x[i]) * y[i];
  *s = sum;
}
static void dot_bf16(int n, float *s, const void *vx, const void *vy) {
  const uint16_t *x = vx; const float *y = vy;
  float sum = 0;
  for (int i = 0; i < n; i++) {
    uint32_t u = (uint32_t)x[i] << 16; float f; memcpy(&f, &u, 4);
    sum += f * y[i];
  }
  *s = sum;
}
static void axpy_f32(int n, float a, const float *x, float *y) { for (int i = 0; i < n; i++) y[i] += a * x[i]; }
static void scale_f32(int n, float a, float *y) { for (int i = 0; i < n; i++) y[i] *= a; }

// ---- gemm fallback: one vec_dot per pair (levels without a gemm kernel for a type) -------------

void hk_gemm_by_vec_dot(hk_vec_dot_fn dot, int n, const void *w, size_t w_stride, int nrows, const void *a,
                        size_t a_stride, int ntok, float *out, size_t out_stride) {
  for (int r = 0; r < nrows; r++)
    for (int t = 0; t < ntok; t++)
      dot(n, out + (size_t)t * out_stride + r, (const char *)w + (size_t)r * w_stride, (const char *)a + (size_t)t * a_stride);
}

void hk_scalar_fill(hk_kernels *k) {
  k->level = HK_LEVEL_SCALAR;
  k->quantize[HK_Q8_0] = quantize_q8_0;
  k->quantize[HK_Q8_1] = quantize_q8_1;
  k->quantize[HK_Q8_K] = quantize_q8_K;
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
  hk_scalar_fill_q16(k);
  hk_scalar_fill_attention(k);
}
