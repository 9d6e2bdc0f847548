#include "ir/kept_activations.h"

namespace horizon::ir {

std::vector<int> kept_values(const Stage& s, size_t forward_inputs) {
  if (s.name == kKeepStage) return std::vector<int>(s.outputs.begin() + 1, s.outputs.end());
  if (s.name == kKeptBackwardStage && s.inputs.size() > forward_inputs)
    return std::vector<int>(s.inputs.begin() + static_cast<std::ptrdiff_t>(forward_inputs), s.inputs.end() - 1);
  return {};
}

std::vector<int64_t> kept_value_offsets(const Stage& s, const std::vector<int>& values, int64_t batch, int64_t seq) {
  constexpr int64_t kAlignment = 256;
  std::vector<int64_t> offsets;
  int64_t at = 0;
  for (int v : values) {
    offsets.push_back(at);
    at += (s.values[static_cast<size_t>(v)].type.elements(batch, seq) * 4 + kAlignment - 1) / kAlignment * kAlignment;
  }
  offsets.push_back(at);
  return offsets;
}

}  // namespace horizon::ir
