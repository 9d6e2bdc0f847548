#include "passes/plan_recompute.h"

#include "passes/plan_buffer_slots.h"
#include "support/error.h"

namespace horizon::passes {

bool plan_recompute(StepPlan& plan) {
  const int64_t before = plan.checkpoint_every;
  const int64_t L = plan.layers;
  if (plan.options.checkpoint_every > 0) {
    if (plan.options.checkpoint_every > L)
      throw UserError("--checkpoint-every " + std::to_string(plan.options.checkpoint_every) + " exceeds the " +
                      std::to_string(L) + " blocks; use at most " + std::to_string(L));
    plan.checkpoint_every = plan.options.checkpoint_every;
    return plan.checkpoint_every != before;
  }
  // GPU checkpoints (when plan_offload keeps them there) grow with depth;
  // larger K trades recompute for memory.
  plan.checkpoint_every = 1;
  if (plan.options.host_checkpoints == 0) {
    StepPlan trial = plan;
    trial.host_checkpoints = false;
    for (int64_t k = 1; k <= L; ++k) {
      trial.checkpoint_every = k;
      trial.slots = default_slots(k);
      if (static_cast<double>(trial.gpu_bytes_without_arena() + plan.arena_bytes) <= plan.options.gpu_bytes) {
        plan.checkpoint_every = k;
        break;
      }
    }
  }
  return plan.checkpoint_every != before;
}

}  // namespace horizon::passes
