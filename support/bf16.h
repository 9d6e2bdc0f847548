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

/// The upper half of f32's bits: bfloat16 rounded toward zero.
inline uint16_t float_to_bf16_truncate(float f) { return static_cast<uint16_t>(std::bit_cast<uint32_t>(f) >> 16); }

/// The split master weight (DESIGN.md): an f32 held as two 16-bit planes.
/// `hi` is the bf16 working weight the GPU streams, rounded to nearest (ties
/// away from zero), as autocast rounds; `lo` is the f32's lower 16 bits, and
/// its top bit says whether rounding carried into `hi`, so the pair is the
/// exact f32. Infinities and NaN keep the truncated `hi` (exponent all ones:
/// no carry); a finite value that would round to infinity (|x| at or above
/// 0x7F7F8000, 3.39e38) is stored as 0x?F7F7FFF, the largest value that does
/// not. The CPU JIT's AdamW (codegen/cpu/emit_adamw.cpp) does the same.
struct MasterPlanes {
  uint16_t hi, lo;
};

inline bool bf16_is_special(uint32_t hi) { return (hi & 0x7f80u) == 0x7f80u; }

inline MasterPlanes split_master(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  const uint32_t truncated = u >> 16, rounded = (u + 0x8000u) >> 16;
  if (bf16_is_special(truncated)) return {static_cast<uint16_t>(truncated), static_cast<uint16_t>(u)};
  if (bf16_is_special(rounded)) return {static_cast<uint16_t>(truncated), 0x7fffu};
  return {static_cast<uint16_t>(rounded), static_cast<uint16_t>(u)};
}

inline float join_master(uint16_t hi, uint16_t lo) {
  const uint32_t carried = !bf16_is_special(hi) && (lo & 0x8000u) ? 1u : 0u;
  return std::bit_cast<float>(((static_cast<uint32_t>(hi) - carried) << 16) | lo);
}

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
