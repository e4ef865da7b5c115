// The kernel tables, one per level, filled once.
#include "internal.h"
#include <pthread.h>

static hk_kernels tables[3];
static int available[3];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void build(void) {
  hk_init();
  hk_scalar_fill(&tables[HK_LEVEL_SCALAR]);
  available[HK_LEVEL_SCALAR] = 1;
#if defined(__x86_64__)
  if (hk_cpu_best_level() >= HK_LEVEL_AVX2) {
    tables[HK_LEVEL_AVX2] = tables[HK_LEVEL_SCALAR];  // anything AVX2 lacks falls back to C
    hk_avx2_fill(&tables[HK_LEVEL_AVX2]);
    available[HK_LEVEL_AVX2] = 1;
  }
  if (hk_cpu_best_level() >= HK_LEVEL_AVX512VNNI) {
    tables[HK_LEVEL_AVX512VNNI] = tables[HK_LEVEL_AVX2];  // only the Q16 kernels differ
    tables[HK_LEVEL_AVX512VNNI].level = HK_LEVEL_AVX512VNNI;
    hk_vnni_fill_q16(&tables[HK_LEVEL_AVX512VNNI]);
    hk_avx512_fill_q16_dot(&tables[HK_LEVEL_AVX512VNNI]);
    available[HK_LEVEL_AVX512VNNI] = 1;
  }
#endif
}

const hk_kernels *hk_kernels_for_level(int level) {
  pthread_once(&once, build);
  if (level < 0 || level > HK_LEVEL_AVX512VNNI || !available[level]) return NULL;
  return &tables[level];
}

size_t hk_gemm_scratch_bytes(int type, int n) {
  // Rows, then 64 tokens' prepared scales (legacy formats), plus alignment slack.
  size_t tokens = 0;
  if (hk_gemm_row_bytes(type, n) && type != HK_Q4_K && type != HK_Q5_K && type != HK_Q6_K)
    tokens = 64 * (((size_t)(n / HK_QK) + 1) / 2 * 64);  // da2 and sa2 per token
  return HK_GEMM_ROWS * hk_gemm_row_bytes(type, n) + tokens + 64;
}

int hk_supports(const hk_kernels *k, int type) {
  return type >= 0 && type < HK_TYPE_COUNT && k->vec_dot[type] != NULL;
}

void hk_dot_rows(const hk_kernels *k, int type, int n, const void *w, size_t w_stride, int nrows, const void *a,
                 size_t a_stride, int ntok, float *out, size_t out_stride) {
  hk_gemm_by_vec_dot(k->vec_dot[type], n, w, w_stride, nrows, a, a_stride, ntok, out, out_stride);
}

void hk_gemm(const hk_kernels *k, int type, int n, const void *w, size_t w_stride, int nrows, const void *a,
             size_t a_stride, int ntok, float *out, size_t out_stride, void *scratch) {
  if (k->gemm[type]) k->gemm[type](n, w, w_stride, nrows, a, a_stride, ntok, out, out_stride, scratch);
  else hk_gemm_by_vec_dot(k->vec_dot[type], n, w, w_stride, nrows, a, a_stride, ntok, out, out_stride);
}

void hk_quantize_rows(const hk_kernels *k, int act_type, const float *x, size_t x_stride, int ntok, int n, void *out,
                      size_t out_stride) {
  for (int t = 0; t < ntok; t++) k->quantize[act_type](x + (size_t)t * x_stride, (char *)out + (size_t)t * out_stride, n);
}

// ---- Q16 (int16 activations) -----------------------------------------------------------------

size_t hk_gemm_q16_scratch_bytes(int n) {
  // HK_GEMM_Q16_ROWS unpacked rows (int16), the same interleaved, and per group two scales and
  // one min per row, plus alignment slack.
  const size_t groups = (size_t)(n / HK_QK);
  return (size_t)HK_GEMM_Q16_ROWS * 2 * (size_t)n * 2 + groups * HK_GEMM_Q16_ROWS * 12 + 128;
}

int hk_supports_q16(const hk_kernels *k, int type) {
  return type >= 0 && type < HK_TYPE_COUNT && k->vec_dot_q16[type] != NULL;
}

void hk_dot_rows_q16(const hk_kernels *k, int type, int n, const void *w, size_t w_stride, int nrows, const void *a,
                     size_t a_stride, int ntok, float *out, size_t out_stride) {
  // The kernels prefetch 4 KB ahead of what they read, so a task's first 4 KB would arrive one
  // demand miss at a time; asking for them all at once overlaps their latencies.
  const size_t warm = (size_t)nrows * w_stride < 4096 ? (size_t)nrows * w_stride : 4096;
  for (size_t b = 0; b < warm; b += 64) __builtin_prefetch((const char *)w + b, 0, 3);
  if (k->dot_rows_q16[type]) k->dot_rows_q16[type](n, w, w_stride, nrows, a, a_stride, ntok, out, out_stride);
  else hk_gemm_by_vec_dot(k->vec_dot_q16[type], n, w, w_stride, nrows, a, a_stride, ntok, out, out_stride);
}

void hk_gemm_q16(const hk_kernels *k, int type, int n, const void *w, size_t w_stride, int nrows, const void *a,
                 size_t a_stride, int ntok, float *out, size_t out_stride, void *scratch) {
  if (k->gemm_q16[type]) k->gemm_q16[type](n, w, w_stride, nrows, a, a_stride, ntok, out, out_stride, scratch);
  else hk_gemm_by_vec_dot(k->vec_dot_q16[type], n, w, w_stride, nrows, a, a_stride, ntok, out, out_stride);
}

void hk_quantize_rows_q16(const hk_kernels *k, const float *x, size_t x_stride, int ntok, int n, void *out,
                          size_t out_stride) {
  for (int t = 0; t < ntok; t++) k->quantize_q16(x + (size_t)t * x_stride, (char *)out + (size_t)t * out_stride, n);
}
