#include "ir/rope.h"

#include <cmath>
#include <numbers>

namespace horizon::ir {

RopeParams rope_params(const Attrs& a) {
  RopeParams p;
  p.theta = attr_number(a, "theta");
  p.scaling_factor = attr_number_or(a, "scaling_factor", 0.0);
  p.low_freq_factor = attr_number_or(a, "low_freq_factor", 0.0);
  p.high_freq_factor = attr_number_or(a, "high_freq_factor", 0.0);
  p.original_max_positions = attr_number_or(a, "original_max_positions", 0.0);
  return p;
}

std::vector<double> rope_inv_freq(int64_t D, const RopeParams& p) {
  std::vector<double> inv_freq(static_cast<size_t>(D / 2));
  for (int64_t i = 0; i < D / 2; ++i) {
    double f = 1.0 / std::pow(p.theta, static_cast<double>(2 * i) / static_cast<double>(D));
    if (p.low_freq_factor > 0) {
      // transformers' _compute_llama3_parameters: long wavelengths are slowed
      // by the factor, short ones kept, the band between interpolated.
      const double low_freq_wavelen = p.original_max_positions / p.low_freq_factor;
      const double high_freq_wavelen = p.original_max_positions / p.high_freq_factor;
      const double wavelen = 2 * std::numbers::pi / f;
      if (wavelen > low_freq_wavelen) {
        f = f / p.scaling_factor;
      } else if (!(wavelen < high_freq_wavelen)) {
        const double smooth =
            (p.original_max_positions / wavelen - p.low_freq_factor) / (p.high_freq_factor - p.low_freq_factor);
        f = (1 - smooth) * f / p.scaling_factor + smooth * f;
      }
    } else if (p.scaling_factor > 0) {
      f = f / p.scaling_factor;  // linear scaling: positions / factor
    }
    inv_freq[static_cast<size_t>(i)] = f;
  }
  return inv_freq;
}

}  // namespace horizon::ir
