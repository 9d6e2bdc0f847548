// Learning-rate schedules: constant, linear warm-up then cosine decay, linear
// warm-up then linear decay. Decay ends at min_ratio * peak at the last step.
#pragma once

#include <cstdint>
#include <string>

namespace horizon::runtime {

struct LrSchedule {
  enum class Kind { constant, cosine, linear };
  Kind kind = Kind::cosine;
  double peak = 1e-3;
  int64_t warmup = 0;
  int64_t total = 1;
  double min_ratio = 0.1;

  /// Learning rate of 0-based step `step`.
  double at(int64_t step) const;
};

/// "constant" | "cosine" | "linear"; throws UserError naming the flag otherwise.
LrSchedule::Kind parse_schedule_kind(const std::string& name);

}  // namespace horizon::runtime
