// Run-time CPU feature detection: CPUID for what the processor has, XGETBV for whether the OS
// saves the wide registers (without that, AVX instructions fault even on a CPU that has them).
#include "CKernels.h"
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long xgetbv0(void) {
  unsigned eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return ((unsigned long long)edx << 32) | eax;
}

unsigned hk_cpu_features(void) {
  unsigned a, b, c, d, f = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
  int osxsave = (c >> 27) & 1;
  if ((c >> 20) & 1) f |= HK_FEAT_SSE42;
  unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
  int ymm_ok = (xcr0 & 0x6) == 0x6;                 // XMM and YMM state
  int zmm_ok = ymm_ok && (xcr0 & 0xE0) == 0xE0;     // opmask, ZMM hi256, hi16 ZMM
  if (ymm_ok && ((c >> 28) & 1)) f |= HK_FEAT_AVX;
  if (ymm_ok && ((c >> 12) & 1)) f |= HK_FEAT_FMA;
  if (ymm_ok && ((c >> 29) & 1)) f |= HK_FEAT_F16C;
  if (__get_cpuid_max(0, 0) >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    if (ymm_ok && ((b >> 5) & 1)) f |= HK_FEAT_AVX2;
    if ((b >> 8) & 1) f |= HK_FEAT_BMI2;
    if (zmm_ok && ((b >> 16) & 1)) f |= HK_FEAT_AVX512F;
    if (zmm_ok && ((b >> 30) & 1)) f |= HK_FEAT_AVX512BW;
    if (zmm_ok && ((b >> 31) & 1)) f |= HK_FEAT_AVX512VL;
    if (zmm_ok && ((c >> 11) & 1)) f |= HK_FEAT_AVX512VNNI;
    if (zmm_ok && ((c >> 1) & 1)) f |= HK_FEAT_AVX512VBMI;
    if (zmm_ok && ((c >> 12) & 1)) f |= HK_FEAT_AVX512BITALG;
    __cpuid_count(7, 1, a, b, c, d);
    if (ymm_ok && ((a >> 4) & 1)) f |= HK_FEAT_AVXVNNI;
  }
  return f;
}
#elif defined(__aarch64__)
#if defined(__linux__)
#include <sys/auxv.h>
#endif
unsigned hk_cpu_features(void) {
  unsigned f = HK_FEAT_NEON;  // Advanced SIMD is part of every AArch64 CPU
#if defined(__linux__)
  if (getauxval(AT_HWCAP) & (1ul << 20)) f |= HK_FEAT_DOTPROD;  // HWCAP_ASIMDDP: sdot/udot
#elif defined(__APPLE__)
  f |= HK_FEAT_DOTPROD;  // every Apple silicon core has the dot-product instructions
#endif
  return f;
}
#else
unsigned hk_cpu_features(void) { return 0; }
#endif

int hk_cpu_best_level(void) {
  const unsigned f = hk_cpu_features();
  const unsigned avx2 = HK_FEAT_AVX | HK_FEAT_AVX2 | HK_FEAT_FMA | HK_FEAT_F16C;
  // The level's code is compiled with avx512bw on too (clang may use it for byte ops).
  const unsigned vnni = avx2 | HK_FEAT_AVX512F | HK_FEAT_AVX512BW | HK_FEAT_AVX512VL | HK_FEAT_AVX512VNNI;
  if ((f & vnni) == vnni) return HK_LEVEL_AVX512VNNI;
  return (f & avx2) == avx2 ? HK_LEVEL_AVX2 : HK_LEVEL_SCALAR;
}
