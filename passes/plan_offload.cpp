#include "passes/plan_offload.h"

namespace horizon::passes {

bool plan_offload(StepPlan& plan) {
  const bool host_before = plan.host_checkpoints, clip_before = plan.clip;
  plan.host_checkpoints = plan.options.host_checkpoints != 0;
  plan.clip = plan.options.clip;
  return plan.host_checkpoints != host_before || plan.clip != clip_before;
}

}  // namespace horizon::passes
