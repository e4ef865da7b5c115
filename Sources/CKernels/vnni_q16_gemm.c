// The Q16 prefill gemm again, for the AVX512VNNI level (see avx2.h: HK_VNNI).
#define HK_VNNI 1
#include "avx2_q16_gemm.c"
