#include "passes/insert_buffer_swap.h"

#include "support/error.h"

namespace horizon::passes {

bool insert_buffer_swap(StepPlan& plan) {
  const int64_t slots_before = plan.slots, prefetch_before = plan.prefetch;
  if (plan.options.slots > 0) {
    if (plan.options.slots < 2)
      throw UserError("--slots must be at least 2 (one computing, one loading), got " + std::to_string(plan.options.slots));
    plan.slots = plan.options.slots;
  } else {
    plan.slots = std::max<int64_t>(2, plan.checkpoint_every + 1);
  }
  plan.prefetch = plan.options.prefetch > 0 ? std::min(plan.options.prefetch, plan.slots - 1) : plan.slots - 1;
  return plan.slots != slots_before || plan.prefetch != prefetch_before;
}

}  // namespace horizon::passes
