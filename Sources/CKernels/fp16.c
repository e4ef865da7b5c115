// fp16 <-> f32 conversions. The table holds all 65536 conversions so that hot loops convert block
// scales with one load instead of `vcvtph2ps`, which LLVM schedules badly (see swift-notes.md).
#include "CKernels.h"
#include <pthread.h>
#include <string.h>

float hk_fp16_table[65536];

static inline float bits_to_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t f32_to_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

// Exact for every input; NaN payloads kept (numpy's behaviour, which gguf-py fixtures encode).
static float fp16_to_f32_exact(hk_half h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
  if (exp == 0x1F) return bits_to_f32(sign | 0x7F800000u | (mant << 13));
  if (exp != 0) return bits_to_f32(sign | ((exp + 112) << 23) | (mant << 13));
  float mag = (float)mant * bits_to_f32(0x33800000u);  // mant * 2^-24, exact
  return sign ? -mag : mag;
}

hk_half hk_f32_to_fp16(float f) {
  uint32_t bits = f32_to_bits(f);
  uint16_t sign = (uint16_t)((bits >> 16) & 0x8000);
  int exp = (int)((bits >> 23) & 0xFF);
  uint32_t mant = bits & 0x7FFFFF;
  if (exp == 0xFF) {
    if (!mant) return sign | 0x7C00;
    uint16_t payload = (uint16_t)(mant >> 13);
    return sign | 0x7C00 | (payload ? payload : 1);
  }
  int e = exp - 127 + 15;
  if (e >= 0x1F) return sign | 0x7C00;
  if (e <= 0) {
    if (e < -10) return sign;
    uint32_t full = mant | 0x800000, shift = (uint32_t)(14 - e);
    uint32_t h = full >> shift, rest = full & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rest > half || (rest == half && (h & 1))) h++;
    return sign | (uint16_t)h;
  }
  uint32_t h = ((uint32_t)e << 10) | (mant >> 13), rest = mant & 0x1FFF;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;
  return sign | (uint16_t)h;
}

static void fill_table(void) {
  for (uint32_t i = 0; i < 65536; i++) hk_fp16_table[i] = fp16_to_f32_exact((hk_half)i);
}

float hk_fp16_lookup(hk_half h) { hk_init(); return hk_fp16_table[h]; }

static pthread_once_t once = PTHREAD_ONCE_INIT;
void hk_init(void) { pthread_once(&once, fill_table); }
