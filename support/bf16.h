// Conversions between f32 and the two 16-bit float formats we store and
// stream: bfloat16 (the weights and checkpoints) and IEEE half (f16, found in
// older checkpoints). Header-only so hot loops in any folder inline them.
// Rounding is to nearest, ties to even, as PyTorch and the safetensors
// ecosystem do, so a tensor saved here is bit-identical to one saved there.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace horizon {

/// Widens a bfloat16 (its bits) to f32; exact.
inline float bf16_to_float(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

/// Narrows f32 to bfloat16 bits, rounding to nearest even. NaN stays NaN
/// (quiet, sign kept) instead of rounding into infinity.
inline uint16_t float_to_bf16(float f) {
  uint32_t u = std::bit_cast<uint32_t>(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

/// The upper half of f32's bits: bfloat16 rounded toward zero. With the lower
/// half kept beside it, the two halves are the exact f32 (the split master
/// weight of DESIGN.md), which round-to-nearest would not allow.
inline uint16_t float_to_bf16_truncate(float f) { return static_cast<uint16_t>(std::bit_cast<uint32_t>(f) >> 16); }

/// Widens an IEEE half (its bits) to f32; exact, subnormals included.
inline float f16_to_float(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));
  if (exp != 0) return std::bit_cast<float>(sign | ((exp + 112u) << 23) | (mant << 13));
  float magnitude = static_cast<float>(mant) * 0x1p-24f;  // zero or subnormal: mant * 2^-24
  return sign ? -magnitude : magnitude;
}

/// Narrows f32 to IEEE half bits, rounding to nearest even; values beyond the
/// half range become infinity, NaN stays NaN.
inline uint16_t float_to_f16(float f) {
  uint32_t u = std::bit_cast<uint32_t>(f);
  uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
  // 65520 is halfway between the largest half (65504, odd mantissa) and 65536: ties go to infinity.
  if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);
  if (a < 0x38800000u) {
    // Below the smallest normal half: a multiple of 2^-24, rounded to nearest even by
    // the FPU (scaling by a power of two is exact). 1024 correctly encodes the smallest normal.
    float units = std::nearbyint(std::bit_cast<float>(a) * 0x1p24f);
    return static_cast<uint16_t>(sign | static_cast<uint16_t>(units));
  }
  a += 0xfffu + ((a >> 13) & 1u);  // round the 13 dropped bits to nearest even; carries into the exponent
  return static_cast<uint16_t>(sign | ((a - 0x38000000u) >> 13));
}

}  // namespace horizon
