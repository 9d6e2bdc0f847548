// The rotary-embedding parameters of a `rope` op and its inverse
// frequencies, computed once for every backend. The CPU kernels use them
// directly and the CUDA generator bakes them into its source, so the two
// agree bit for bit; the float64 reference keeps its own derivation.
#pragma once

#include <cstdint>
#include <vector>

#include "ir/module.h"

namespace horizon::ir {

struct RopeParams {
  double theta = 10000.0;
  // Llama 3 scaling when low_freq_factor > 0; plain linear scaling of
  // positions when only scaling_factor > 0.
  double scaling_factor = 0.0;
  double low_freq_factor = 0.0, high_freq_factor = 0.0;
  double original_max_positions = 0.0;
};

/// The parameters of a rope / rope_grad instruction from its attributes.
RopeParams rope_params(const Attrs& attrs);

/// The D/2 inverse frequencies after scaling, as transformers computes them.
std::vector<double> rope_inv_freq(int64_t D, const RopeParams& p);

}  // namespace horizon::ir
