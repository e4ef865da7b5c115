// The Q16 decode kernels again, for the AVX512VNNI level (see avx2.h: HK_VNNI).
#define HK_VNNI 1
#include "avx2_q16_dot.c"
