#include "support/moment_quantization.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

namespace horizon {
namespace {

// bitsandbytes' create_dynamic_map(signed, max_exponent_bits = 7, total_bits
// = 8): for each decade 10^(i-6), i = 0..6, the means of 2^i (signed) or
// 2^(i+1) (unsigned) equal intervals of [0.1, 1] scaled by the decade, with
// both signs when signed; then 0 and 1. 2 * 127 + 2 or 254 + 2 values.
QuantizationMap make_dynamic_map(bool is_signed) {
  std::vector<double> data;
  for (int i = 0; i < 7; ++i) {
    const int intervals = is_signed ? 1 << i : 1 << (i + 1);
    const double decade = std::pow(10.0, i - 6);
    for (int k = 0; k < intervals; ++k) {
      const double lo = 0.1 + 0.9 * k / intervals, hi = 0.1 + 0.9 * (k + 1) / intervals;
      const double mean = decade * (lo + hi) / 2;
      data.push_back(mean);
      if (is_signed) data.push_back(-mean);
    }
  }
  data.push_back(0.0);
  data.push_back(1.0);
  std::sort(data.begin(), data.end());
  QuantizationMap map{};
  for (size_t k = 0; k < 256; ++k) map.values[k] = static_cast<float>(data[k]);
  for (size_t k = 0; k < 255; ++k)
    map.thresholds[k] = static_cast<float>((static_cast<double>(map.values[k]) + map.values[k + 1]) / 2);
  return map;
}

EncodeTable make_encode_table(const QuantizationMap& map) {
  std::vector<int32_t> below(2 * kEncodeBuckets, 0);
  std::vector<int> in_bucket(2 * kEncodeBuckets, 0);
  EncodeTable t;
  t.words.assign(2 * kEncodeBuckets, 0);
  for (int64_t b = 0; b < kEncodeBuckets; ++b) t.words[static_cast<size_t>(b)] = 0xffffu;  // positive and empty
  for (float th : map.thresholds) {
    const int64_t b = encode_bucket(th);
    if (++in_bucket[static_cast<size_t>(b)] > 1)
      throw std::logic_error("moment quantization: two thresholds share an encode bucket; use more mantissa bits");
    // The clamped buckets' members do not share their upper bits: no threshold may sit there.
    if (b % kEncodeBuckets == 0 || b % kEncodeBuckets == kEncodeBuckets - 1)
      throw std::logic_error("moment quantization: a threshold lies in a clamped encode bucket");
    t.words[static_cast<size_t>(b)] = std::bit_cast<uint32_t>(th) & 0xffffu;
  }
  for (int64_t b = 0; b < 2 * kEncodeBuckets; ++b) {
    // A member of the bucket: every member compares alike with thresholds outside it.
    const uint32_t sign = b >= kEncodeBuckets ? 0x80000000u : 0u;
    const int64_t k = b % kEncodeBuckets;
    const uint32_t magnitude = k == 0                    ? 0u
                               : k == kEncodeBuckets - 1 ? 0x40000000u  // 2.0
                                                         : static_cast<uint32_t>(kEncodeFirstKey + k - 1) << 16;
    const float member = std::bit_cast<float>(sign | magnitude);
    uint32_t count = 0;
    for (float th : map.thresholds) count += th < member && encode_bucket(th) != b ? 1 : 0;
    t.words[static_cast<size_t>(b)] |= count << 16;
  }
  return t;
}

}  // namespace

const EncodeTable& encode_table(const QuantizationMap& map) {
  static const EncodeTable m = make_encode_table(signed_dynamic_map());
  static const EncodeTable v = make_encode_table(unsigned_dynamic_map());
  return &map == &signed_dynamic_map() ? m : v;
}

uint8_t quantize_by_table(const EncodeTable& table, float x) {
  if (std::isnan(x)) return 0;
  const uint32_t word = table.words[static_cast<size_t>(encode_bucket(x))];
  const uint32_t bits = std::bit_cast<uint32_t>(x), low = bits & 0xffffu, inside = word & 0xffffu;
  const bool above = bits >> 31 ? low < inside : low > inside;
  return static_cast<uint8_t>((word >> 16) + (above ? 1u : 0u));
}

const QuantizationMap& signed_dynamic_map() {
  static const QuantizationMap map = make_dynamic_map(true);
  return map;
}

const QuantizationMap& unsigned_dynamic_map() {
  static const QuantizationMap map = make_dynamic_map(false);
  return map;
}

uint8_t quantize(const QuantizationMap& map, float x) {
  int code = 0;
  for (int step = 128; step > 0; step /= 2)
    if (x > map.thresholds[static_cast<size_t>(code + step - 1)]) code += step;
  return static_cast<uint8_t>(code);
}

void quantize_block(const QuantizationMap& map, const float* x, int64_t n, uint8_t* codes, float* scale) {
  float most = 0.0f;
  for (int64_t i = 0; i < n; ++i) most = std::fmax(most, std::fabs(x[i]));
  const float inverse = most == 0.0f ? 0.0f : 1.0f / most;
  for (int64_t i = 0; i < n; ++i) codes[i] = quantize(map, x[i] * inverse);
  *scale = most;
}

void dequantize_block(const QuantizationMap& map, const uint8_t* codes, int64_t n, float scale, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = map.values[codes[i]] * scale;
}

}  // namespace horizon
