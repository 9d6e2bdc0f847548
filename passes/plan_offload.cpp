#include "passes/plan_offload.h"

#include "passes/executor_reserve.h"
#include "passes/plan_buffer_slots.h"
#include "support/error.h"
#include "support/numbers.h"

namespace horizon::passes {
namespace {

// --host-checkpoints auto: on the GPU if the step fits its budget with the
// checkpoints there, at the slots plan_buffer_slots will choose and before
// any layer is made resident. Sets the plan's reason either way.
bool checkpoints_fit_gpu(StepPlan& plan) {
  double reserve = 0;
  try {
    reserve = executor_reserve_bytes(plan);
  } catch (const UserError& e) {
    // The backend cannot run this model (a shape its kernels do not
    // serve): a schedule for another backend may still be wanted, so this
    // is no error here, but no GPU memory is known to be free. (plan_resident
    // reports the error where layers are to stay on that GPU.)
    plan.checkpoint_place_why = std::string("the GPU executor cannot size its scratch for this model (") + e.what() +
                                "), so pinned host memory";
    return false;
  }
  StepPlan trial = plan;
  trial.host_checkpoints = false;
  trial.slots = plan.options.slots > 0 ? plan.options.slots : default_slots(plan.checkpoint_every);
  trial.resident.clear();
  const double need = static_cast<double>(trial.gpu_bytes_without_arena() + plan.arena_bytes) + reserve +
                      plan.options.gpu_reserve_bytes;
  const double checkpoints =
      static_cast<double>(plan.checkpoints() * plan.options.micro_batches * plan.mb_activation_bytes());
  const bool fits = need <= plan.options.gpu_bytes;
  plan.checkpoint_place_why =
      "with its " + std::to_string(plan.checkpoints() * plan.options.micro_batches) + " checkpoints (" +
      format_bytes(checkpoints) + ") there the step needs " + format_bytes(need) + " of the GPU's " +
      format_bytes(plan.options.gpu_bytes) +
      (fits ? ": they fit, and cost no copies over PCIe" : ": more than the budget, so pinned host memory");
  return fits;
}

}  // namespace

bool plan_offload(StepPlan& plan) {
  const bool host_before = plan.host_checkpoints, clip_before = plan.clip;
  plan.checkpoint_place_why.clear();
  plan.host_checkpoints =
      plan.options.host_checkpoints < 0 ? !checkpoints_fit_gpu(plan) : plan.options.host_checkpoints != 0;
  plan.clip = plan.options.clip;
  return plan.host_checkpoints != host_before || plan.clip != clip_before;
}

}  // namespace horizon::passes
