#include "runtime/lr_schedule.h"

#include <algorithm>
#include <cmath>

#include "support/error.h"

namespace horizon::runtime {

double LrSchedule::at(int64_t step) const {
  if (warmup > 0 && step < warmup) return peak * static_cast<double>(step + 1) / static_cast<double>(warmup);
  if (kind == Kind::constant) return peak;
  int64_t span = std::max<int64_t>(1, total - warmup - 1);
  double progress = std::clamp(static_cast<double>(step - warmup) / static_cast<double>(span), 0.0, 1.0);
  double floor = peak * min_ratio;
  if (kind == Kind::linear) return peak - (peak - floor) * progress;
  return floor + (peak - floor) * 0.5 * (1.0 + std::cos(3.141592653589793 * progress));
}

LrSchedule::Kind parse_schedule_kind(const std::string& name) {
  if (name == "constant") return LrSchedule::Kind::constant;
  if (name == "cosine") return LrSchedule::Kind::cosine;
  if (name == "linear") return LrSchedule::Kind::linear;
  throw UserError("--schedule must be constant, cosine or linear, got '" + name + "'");
}

}  // namespace horizon::runtime
