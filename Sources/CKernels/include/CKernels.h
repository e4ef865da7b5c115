// CKernels: ggml-compatible block layouts and the fast (SIMD) kernels behind Hearth's `Kernels`.
//
// Every block struct below is byte-for-byte the layout ggml writes into GGUF files; the size
// assertions pin them. Kernels come in levels (portable scalar C, AVX2+FMA+F16C) and are reached
// through a table of function pointers chosen at run time, so the binary still runs on any x86-64.
#ifndef HEARTH_CKERNELS_H
#define HEARTH_CKERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef uint16_t hk_half;  // IEEE binary16 bits

#define HK_QK 32    // elements per block of the legacy formats
#define HK_QK_K 256 // elements per K-quant super-block

typedef struct { hk_half d; uint8_t qs[HK_QK / 2]; } hk_block_q4_0;
typedef struct { hk_half d; hk_half m; uint8_t qs[HK_QK / 2]; } hk_block_q4_1;
typedef struct { hk_half d; uint8_t qh[4]; uint8_t qs[HK_QK / 2]; } hk_block_q5_0;
typedef struct { hk_half d; hk_half m; uint8_t qh[4]; uint8_t qs[HK_QK / 2]; } hk_block_q5_1;
typedef struct { hk_half d; int8_t qs[HK_QK]; } hk_block_q8_0;
/// `s` is d * sum(qs): the activation's block sum, which the Q4_1/Q5_1 dots need for the min term.
typedef struct { hk_half d; hk_half s; int8_t qs[HK_QK]; } hk_block_q8_1;
/// 8 sub-blocks of 32; 6-bit scales and mins packed in `scales` (see get_scale_min in the reference).
typedef struct { hk_half d; hk_half dmin; uint8_t scales[12]; uint8_t qs[HK_QK_K / 2]; } hk_block_q4_K;
typedef struct { hk_half d; hk_half dmin; uint8_t scales[12]; uint8_t qh[HK_QK_K / 8]; uint8_t qs[HK_QK_K / 2]; } hk_block_q5_K;
/// 16 sub-blocks of 16 with signed 8-bit scales; values are 6-bit with an offset of 32.
typedef struct { uint8_t ql[HK_QK_K / 2]; uint8_t qh[HK_QK_K / 4]; int8_t scales[HK_QK_K / 16]; hk_half d; } hk_block_q6_K;
/// Activation format for the K-quants: f32 scale, and sums of each 16 quants (for the min terms).
typedef struct { float d; int8_t qs[HK_QK_K]; int16_t bsums[HK_QK_K / 16]; } hk_block_q8_K;

_Static_assert(sizeof(hk_block_q4_0) == 18, "q4_0 block size");
_Static_assert(sizeof(hk_block_q4_1) == 20, "q4_1 block size");
_Static_assert(sizeof(hk_block_q5_0) == 22, "q5_0 block size");
_Static_assert(sizeof(hk_block_q5_1) == 24, "q5_1 block size");
_Static_assert(sizeof(hk_block_q8_0) == 34, "q8_0 block size");
_Static_assert(sizeof(hk_block_q8_1) == 36, "q8_1 block size");
_Static_assert(sizeof(hk_block_q4_K) == 144, "q4_K block size");
_Static_assert(sizeof(hk_block_q5_K) == 176, "q5_K block size");
_Static_assert(sizeof(hk_block_q6_K) == 210, "q6_K block size");
_Static_assert(sizeof(hk_block_q8_K) == 292, "q8_K block size");

// ---- fp16 ----------------------------------------------------------------------------------

/// fp16 -> f32 for every bit pattern. A table lookup, because LLVM's `vcvtph2ps` for single values
/// makes each block's conversion wait for the previous FMA (see shared/swift-notes.md).
extern float hk_fp16_table[65536];
/// Fills `hk_fp16_table`. Idempotent and thread-safe; `hk_kernels_for_level` calls it.
void hk_init(void);
static inline float hk_fp16_to_f32(hk_half h) { return hk_fp16_table[h]; }
/// The table lookup as a function (for Swift, which sees the table as a 65536-tuple).
float hk_fp16_lookup(hk_half h);
/// Round-to-nearest-even f32 -> fp16 (NaN payloads kept, as numpy does).
hk_half hk_f32_to_fp16(float f);

// ---- CPU features --------------------------------------------------------------------------

/// AVX512VNNI is the AVX2 level with the Q16 kernels' `vpmaddwd` + `vpaddd` pairs fused into
/// `vpdpwssd` (256-bit, EVEX: needs AVX512-F, -BW, -VL and -VNNI); results are bit-identical.
enum { HK_LEVEL_SCALAR = 0, HK_LEVEL_AVX2 = 1, HK_LEVEL_AVX512VNNI = 2 };
/// Highest level this CPU (and OS, via XGETBV) supports.
int hk_cpu_best_level(void);
/// Bit set of detected features, for display: see HK_FEAT_*.
unsigned hk_cpu_features(void);
enum {
  HK_FEAT_SSE42 = 1 << 0, HK_FEAT_AVX = 1 << 1, HK_FEAT_AVX2 = 1 << 2, HK_FEAT_FMA = 1 << 3,
  HK_FEAT_F16C = 1 << 4, HK_FEAT_AVX512F = 1 << 5, HK_FEAT_AVX512BW = 1 << 6,
  HK_FEAT_AVX512VNNI = 1 << 7, HK_FEAT_AVXVNNI = 1 << 8, HK_FEAT_BMI2 = 1 << 9,
  HK_FEAT_NEON = 1 << 10, HK_FEAT_DOTPROD = 1 << 11, HK_FEAT_AVX512VL = 1 << 12,
  HK_FEAT_AVX512VBMI = 1 << 13, HK_FEAT_AVX512BITALG = 1 << 14,
};

// ---- kernel table --------------------------------------------------------------------------

/// s = dot(x, y) over n elements; x is a weight row in its block format, y the activation row in
/// the matching format (Q8_0, Q8_1, Q8_K) or f32 for the float weight types.
typedef void (*hk_vec_dot_fn)(int n, float *s, const void *x, const void *y);
/// Quantizes n floats (n a multiple of the block size) into activation blocks.
typedef void (*hk_quantize_fn)(const float *x, void *y, int n);
/// Multi-row, multi-token product: for r < nrows, t < ntok:
///   out[t * out_stride + r] = dot(row r of w, activation row t)
/// Rows are `w_stride` bytes apart, activation rows `a_stride` bytes. `scratch` must hold
/// `hk_gemm_scratch_bytes(type, n)` bytes (per calling thread).
/// out[t * out_stride + r] = dot(weight row r, activation row t) for r < nrows, t < ntok.
typedef void (*hk_dot_rows_fn)(int n, const void *w, size_t w_stride, int nrows, const void *a, size_t a_stride,
                               int ntok, float *out, size_t out_stride);
typedef void (*hk_gemm_fn)(int n, const void *w, size_t w_stride, int nrows, const void *a, size_t a_stride,
                           int ntok, float *out, size_t out_stride, void *scratch);

// ---- int16 activations (Q16), the default fast path --------------------------------------
//
// An activation row of n floats (n a multiple of 32) in Q16 is laid out as
//   int16_t q[n];  float d[n / 32];  float s[n / 32];
// with, per group g of 32: d = amax / 32767, q = round-half-even(x * (1 / d)), s = d * Σq (for
// the min and offset terms of Q4_1/Q5_1/Q4_K/Q5_K). Within a group, q holds the even elements
// (0, 2, ..., 30) first, then the odd ones: a 16-bit word of packed weights holds one even and
// one odd element, so kernels unpack weights into this order with shifts alone. Sixteen bits keep the dot products ~250x closer to
// f32 than Q8's eight (see docs/kernels.md), at about the same cost on AVX2 without VNNI:
// `vpmaddwd` does 16 int16 products per instruction. The groups' scales sit after the values so
// that the values stay 64-byte aligned and eight groups' scales load as one vector.
#define HK_Q16_MAX 32767
/// Bytes of a Q16 row of n values.
static inline size_t hk_q16_row_bytes(int n) { return (size_t)n * 2 + (size_t)(n / HK_QK) * 8; }
/// Quantizes n floats into one Q16 row.
typedef void (*hk_quantize_q16_fn)(const float *x, void *y, int n);

/// ggml type numbers (as in GGUF).
enum {
  HK_F32 = 0, HK_F16 = 1, HK_Q4_0 = 2, HK_Q4_1 = 3, HK_Q5_0 = 6, HK_Q5_1 = 7, HK_Q8_0 = 8, HK_Q8_1 = 9,
  HK_Q4_K = 12, HK_Q5_K = 13, HK_Q6_K = 14, HK_Q8_K = 15, HK_BF16 = 30, HK_TYPE_COUNT = 31
};

/// One attention call: nq query vectors against the keys and values of one KV head in a paged
/// cache of f32 or f16 rows, with a softmax over each query's own key range.
typedef struct {
  int nq, hd;                    // queries; head dimension
  const float *q;                // nq rows of hd floats, q_stride floats apart
  size_t q_stride;
  const int *lo, *hi;            // per query: first and last key position it sees (inclusive)
  const int32_t *table;          // the sequence's cache blocks: position p is in table[p / block_tokens]
  int block_tokens;
  const void *k, *v;             // this head's key/value rows of block 0: [slot][hd]
  size_t block_stride;           // elements from one block to the next
  int kv_f16;                    // 1: k and v hold IEEE binary16 (hk_half); 0: f32
  float scale;                   // multiplies q . k
  float *out;                    // nq rows of hd floats, out_stride apart
  size_t out_stride;
  float *scratch;                // hk_attend_scratch_floats(block_tokens) floats
  float *lse;                    // NULL, or nq floats: each query's log Σ e^score (-INFINITY for an
                                 // empty range), so that calls over disjoint key ranges can be merged
} hk_attention;

/// Floats of scratch one attention call needs.
static inline size_t hk_attend_scratch_floats(int block_tokens) { return (size_t)4 * (size_t)block_tokens + 16; }

typedef struct {
  int level;
  /// Indexed by weight type; NULL where the type has no kernel. A NULL gemm falls back to one
  /// vec_dot per (row, token) (the float types, and every type at the scalar level).
  hk_vec_dot_fn vec_dot[HK_TYPE_COUNT];
  hk_gemm_fn gemm[HK_TYPE_COUNT];
  /// Indexed by activation type (HK_Q8_0, HK_Q8_1, HK_Q8_K).
  hk_quantize_fn quantize[HK_TYPE_COUNT];
  /// Against Q16 activation rows (the default fast mode), indexed by weight type; NULL for the
  /// float types, which take f32 activations through `vec_dot`.
  hk_vec_dot_fn vec_dot_q16[HK_TYPE_COUNT];
  /// Decode (a few activation rows): out[t * out_stride + r] = vec_dot_q16(row r, activation row
  /// t), bit for bit, the dot inlined into the loop; NULL where the level has none (then one
  /// vec_dot_q16 call per pair).
  hk_dot_rows_fn dot_rows_q16[HK_TYPE_COUNT];
  hk_gemm_fn gemm_q16[HK_TYPE_COUNT];
  hk_quantize_q16_fn quantize_q16;
  /// g[i] = silu(g[i]) * u[i] (SwiGLU) and g[i] = gelu_tanh(g[i]) * u[i] (GeGLU).
  void (*silu_mul)(int n, float *g, const float *u);
  void (*gelu_mul)(int n, float *g, const float *u);
  /// Attention (see hk_attention); an online softmax over the cache blocks, four queries at a
  /// time so that each key and value row loaded serves all four.
  void (*attend)(const hk_attention *a);
  /// y[i] = x[i] as binary16, rounded to nearest even (hk_f32_to_fp16's bits for every non-NaN
  /// input): how keys and values enter an f16 KV cache.
  void (*to_f16)(int n, const float *x, hk_half *y);
  float (*dot_f32)(int n, const float *a, const float *b);
  void (*axpy_f32)(int n, float a, const float *x, float *y);  // y += a * x
  void (*scale_f32)(int n, float a, float *y);                 // y *= a
} hk_kernels;

/// The kernel table for `level`, or NULL when that level is not compiled in or the CPU lacks it.
const hk_kernels *hk_kernels_for_level(int level);
/// Bytes of per-thread scratch the gemm kernel for `type` needs for rows of n elements.
size_t hk_gemm_scratch_bytes(int type, int n);
/// Rows the gemm kernels process together (callers split work in multiples of it).
enum { HK_GEMM_ROWS = 4 };
/// Bytes of per-thread scratch the Q16 gemm kernel needs for rows of n elements (any type).
size_t hk_gemm_q16_scratch_bytes(int n);
/// Rows the Q16 gemm kernels process together.
enum { HK_GEMM_Q16_ROWS = 16 };

// Loops over the table's kernels (C arrays of function pointers are awkward to index from Swift).
/// 1 when `k` has a vec_dot (and so a gemm) for weight type `type`.
int hk_supports(const hk_kernels *k, int type);
/// out[t * out_stride + r] = vec_dot(row r, activation row t), one call per pair: the decode path.
void hk_dot_rows(const hk_kernels *k, int type, int n, const void *w, size_t w_stride, int nrows, const void *a,
                 size_t a_stride, int ntok, float *out, size_t out_stride);
/// The same through the multi-row gemm kernel (prompt processing).
void hk_gemm(const hk_kernels *k, int type, int n, const void *w, size_t w_stride, int nrows, const void *a,
             size_t a_stride, int ntok, float *out, size_t out_stride, void *scratch);
/// The Q16 counterparts: one vec_dot per pair, the multi-row kernel, and row quantization.
void hk_dot_rows_q16(const hk_kernels *k, int type, int n, const void *w, size_t w_stride, int nrows, const void *a,
                     size_t a_stride, int ntok, float *out, size_t out_stride);
void hk_gemm_q16(const hk_kernels *k, int type, int n, const void *w, size_t w_stride, int nrows, const void *a,
                 size_t a_stride, int ntok, float *out, size_t out_stride, void *scratch);
void hk_quantize_rows_q16(const hk_kernels *k, const float *x, size_t x_stride, int ntok, int n, void *out,
                          size_t out_stride);
/// 1 when `k` has a Q16 dot for weight type `type`.
int hk_supports_q16(const hk_kernels *k, int type);
/// Quantizes ntok rows of n floats (x_stride floats apart) to `act_type` rows out_stride bytes apart.
void hk_quantize_rows(const hk_kernels *k, int act_type, const float *x, size_t x_stride, int ntok, int n, void *out,
                      size_t out_stride);

// ---- thread pool ---------------------------------------------------------------------------

typedef struct hk_pool hk_pool;
typedef void (*hk_task_fn)(void *ctx, int task, int thread);
/// A pool of `threads - 1` worker threads; the caller of hk_pool_run is thread 0.
hk_pool *hk_pool_create(int threads);
void hk_pool_destroy(hk_pool *pool);
int hk_pool_threads(const hk_pool *pool);
/// Calls fn(ctx, i, thread) once for every i in 0..<ntasks, spread over all threads (thread 0 is
/// the caller, workers are 1..<threads), and returns when all
/// calls have returned. Not reentrant: one run at a time per pool.
void hk_pool_run(hk_pool *pool, int ntasks, hk_task_fn fn, void *ctx);
/// What each thread prefetches while it waits: thread i the `bytes[i]` bytes from `ptrs[i]`
/// (`threads` entries each; NULL `ptrs` clears). Call from the thread that calls hk_pool_run.
void hk_pool_prefetch(hk_pool *pool, const void *const *ptrs, const size_t *bytes);

#ifdef __cplusplus
}
#endif
#endif
