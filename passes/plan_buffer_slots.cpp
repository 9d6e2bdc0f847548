#include "passes/plan_buffer_slots.h"

#include <algorithm>

#include "support/error.h"

namespace horizon::passes {

int64_t default_slots(int64_t checkpoint_every) { return std::max<int64_t>(2, checkpoint_every + 1); }

bool plan_buffer_slots(StepPlan& plan) {
  const int64_t slots_before = plan.slots, prefetch_before = plan.prefetch;
  if (plan.options.slots > 0) {
    if (plan.options.slots < 2)
      throw UserError("--slots must be at least 2 (one computing, one loading), got " +
                      std::to_string(plan.options.slots));
    plan.slots = plan.options.slots;
  } else {
    plan.slots = default_slots(plan.checkpoint_every);
  }
  plan.prefetch = plan.options.prefetch > 0 ? std::min(plan.options.prefetch, plan.slots - 1) : plan.slots - 1;
  return plan.slots != slots_before || plan.prefetch != prefetch_before;
}

}  // namespace horizon::passes
