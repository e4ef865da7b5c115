// Declarations shared between the kernel files (not part of the public header).
#ifndef HEARTH_CKERNELS_INTERNAL_H
#define HEARTH_CKERNELS_INTERNAL_H
#include "CKernels.h"
#include <string.h>

/// Unpacks sub-block j's 6-bit scale and min from a Q4_K/Q5_K `scales` array.
static inline void hk_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
  if (j < 4) {
    *d = q[j] & 63; *m = q[j + 4] & 63;
  } else {
    *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

/// C's roundf into int8 (the reference quantizers round half away from zero).
static inline int8_t hk_round_i8(float v) { return (int8_t)__builtin_roundf(v); }

/// ggml's nearest_int: round half to even for |x| < 2^22.
static inline int hk_nearest_int(float f) {
  float v = f + 12582912.f;
  int i; memcpy(&i, &v, 4);
  return (i & 0x007fffff) - 0x00400000;
}

// Portable C kernels (level 0).
void hk_scalar_fill(hk_kernels *k);
void hk_scalar_fill_q16(hk_kernels *k);
void hk_scalar_fill_attention(hk_kernels *k);
// AVX2 + FMA + F16C kernels (level 1).
void hk_avx2_fill(hk_kernels *k);
void hk_avx2_fill_q16(hk_kernels *k);
void hk_avx2_fill_attention(hk_kernels *k);
// The Q16 kernels with `vpdpwssd` (level 2, on top of a copy of the AVX2 table).
void hk_vnni_fill_q16(hk_kernels *k);
// Its 512-bit decode kernels (Q4_1, Q5_0), over the 256-bit ones.
void hk_avx512_fill_q16_dot(hk_kernels *k);
// Shared gemm fallback: one vec_dot per (row, token).
void hk_gemm_by_vec_dot(hk_vec_dot_fn dot, int n, const void *w, size_t w_stride, int nrows, const void *a,
                        size_t a_stride, int ntok, float *out, size_t out_stride);
/// Bytes of one unpacked row in the AVX2 gemm layouts (a multiple of 64; 0 for the float types).
static inline size_t hk_gemm_row_bytes(int type, int n) {
  size_t b;
  switch (type) {
  case HK_Q4_K: case HK_Q5_K: case HK_Q6_K: b = (size_t)(n / HK_QK_K) * 576; break;
  // Legacy: values (64 bytes a group for Q8_0's |w|,w; 32 otherwise), then scales and offsets
  // in pair layout (32 bytes per two groups each).
  case HK_Q8_0: b = (size_t)(n / HK_QK) * 64 + (size_t)((n / HK_QK + 1) / 2) * 64; break;
  case HK_Q4_0: case HK_Q5_0: case HK_Q4_1: case HK_Q5_1:
    b = (size_t)(n / HK_QK) * 32 + (size_t)((n / HK_QK + 1) / 2) * 64; break;
  default: return 0;
  }
  return (b + 63) & ~(size_t)63;
}
#endif
