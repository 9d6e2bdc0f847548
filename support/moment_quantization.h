// 8-bit Adam moments (`--moments 8bit`): block-wise dynamic quantization in
// the style of the 8-bit optimizers of Dettmers et al. ("8-bit Optimizers via
// Block-wise Quantization", 2022; bitsandbytes). A tensor's moments are cut
// into blocks of kMomentBlock elements counted from the tensor's first
// element; each block keeps one fp32 scale (its largest magnitude) and one
// byte per element, the index of the nearest value of a 256-entry map of
// [-1, 1] (m, signed) or [0, 1] (unsigned, for v). The maps are "dynamic":
// an exponent of 10 whose remaining bits are a linear fraction, so values
// from 1 down to ~1e-6 of the block's largest keep a few significant bits.
//
// One departure from bitsandbytes: the second moment is stored as sqrt(v)
// (decoded d, v = d * d). A block whose gradients span four decades has v
// spanning eight, more than the map's ~6.5; v then decodes to 0 where m does
// not, and m / (sqrt(0) + eps) blows the weight up (tests/moments8_test.cpp
// AdamWTracksFp32Moments diverged 10^4-fold that way). sqrt(v) spans half
// the decades, and its error is directly the error of Adam's denominator.
//
// These tables are the single definition: the CPU JIT (codegen/cpu) and the
// GPU kernel (codegen/cuda/optimizer_kernels.cpp) bake in the same floats, and
// both quantize by comparing against the same 255 thresholds, so they give
// the same bytes. Header-light so runtime/, cli/ and tests use it too.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <vector>

namespace horizon {

/// Elements per quantization block (bitsandbytes' blockwise optimizers use 256):
/// 8 bytes of scales per 256 parameters, 0.03 B/param on top of 6.
constexpr int64_t kMomentBlock = 256;

/// Blocks of a tensor of `elements` (the last may be partial).
constexpr int64_t moment_blocks(int64_t elements) { return (elements + kMomentBlock - 1) / kMomentBlock; }

/// A sorted 256-entry map and the 255 midpoints between neighbours.
struct QuantizationMap {
  std::array<float, 256> values;
  std::array<float, 255> thresholds;  // thresholds[k]: the midpoint of values[k] and values[k + 1]
};

/// The map of the first moment: 127 negative values, 0, 128 positive up to 1.
const QuantizationMap& signed_dynamic_map();
/// The map of the second moment: 0 and 255 positive values up to 1.
const QuantizationMap& unsigned_dynamic_map();

/// The code of `x` (a value already divided by its block's scale): the
/// nearest map value, ties to the lower one; NaN gives 0. It is the number
/// of thresholds that x exceeds, found by an 8-step binary search, which is
/// how the JIT and the GPU compute it too.
uint8_t quantize(const QuantizationMap& map, float x);

/// The same code without a search, for vector code whose gathers are slow
/// (the CPU JIT): the float's sign, exponent and top 7 mantissa bits name a
/// bucket that holds at most one threshold, so the code is the count of
/// thresholds below the bucket plus (x > the one inside). Exact by
/// construction: `quantize` of every float. Buckets: per sign,
/// kEncodeBuckets; bucket 0 holds magnitudes below 2^-25 (no threshold is
/// that small), the last one magnitudes of 2 and more, infinities and NaN.
/// One 32-bit word per bucket, so the JIT gathers once per element: the
/// count below in the upper half and, in the lower half, the low 16 bits of
/// the threshold inside. x and that threshold share their upper 16 bits (the
/// bucket), so x > threshold is a comparison of the low halves: greater for
/// a positive bucket, less for a negative one (magnitudes order the other
/// way). A bucket without a threshold holds 0xffff (positive) or 0
/// (negative), which no low half exceeds or undercuts.
inline constexpr int64_t kEncodeFirstKey = 102 << 7;  // (exponent << 7 | top mantissa bits) of 2^-25
inline constexpr int64_t kEncodeBuckets = (128 << 7) - kEncodeFirstKey + 2;
struct EncodeTable {
  std::vector<uint32_t>
      words;  // [2 * kEncodeBuckets]: positive buckets, then negative; below << 16 | inside's low bits
};
/// Built from the map's thresholds; std::logic_error if a bucket held two.
const EncodeTable& encode_table(const QuantizationMap& map);
/// The bucket of x (the index into EncodeTable's arrays).
inline int64_t encode_bucket(float x) {
  const uint32_t bits = std::bit_cast<uint32_t>(x);
  const int64_t key = static_cast<int64_t>((bits & 0x7fffffffu) >> 16);
  const int64_t bucket = std::clamp<int64_t>(key - kEncodeFirstKey + 1, 0, kEncodeBuckets - 1);
  return (bits >> 31) * kEncodeBuckets + bucket;
}
/// quantize() through the table: NaN gives 0.
uint8_t quantize_by_table(const EncodeTable& table, float x);

/// Quantizes x[0, n) (n <= kMomentBlock) to codes with scale = max |x|; the
/// values are multiplied by 1/scale (0 when the scale is 0) before the search.
void quantize_block(const QuantizationMap& map, const float* x, int64_t n, uint8_t* codes, float* scale);
/// The values of codes[0, n) at `scale`: values[code] * scale.
void dequantize_block(const QuantizationMap& map, const uint8_t* codes, int64_t n, float scale, float* out);

}  // namespace horizon
