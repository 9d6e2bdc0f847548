#include "passes/plan_gpu_checkpoints.h"

#include "passes/executor_reserve.h"
#include "support/error.h"
#include "support/numbers.h"

namespace horizon::passes {

bool plan_gpu_checkpoints(StepPlan& plan) {
  plan.checkpoint_place_why.clear();
  if (plan.options.host_checkpoints >= 0 || !plan.host_checkpoints) return false;  // on or off: the user's
  if (plan.resident_regions() == static_cast<int64_t>(plan.params.regions.size())) {
    plan.checkpoint_place_why =
        "every layer is resident, so the checkpoints' copies have the link to themselves and overlap the "
        "compute (on the GPU each would cost a device copy on the compute stream)";
    return false;
  }
  double reserve = 0;
  try {
    reserve = executor_reserve_bytes(plan);
  } catch (const UserError& e) {
    // The backend cannot run this model (a shape its kernels do not
    // serve): a schedule for another backend may still be wanted, so this
    // is no error here, but no GPU memory is known to be free.
    plan.checkpoint_place_why =
        std::string("the GPU executor cannot size its scratch for this model (") + e.what() + ")";
    return false;
  }
  StepPlan gpu = plan;
  gpu.host_checkpoints = false;
  const double need =
      static_cast<double>(gpu.gpu_bytes_without_arena() + gpu.arena_bytes) + reserve + plan.options.gpu_reserve_bytes;
  const double checkpoints =
      static_cast<double>(plan.checkpoints() * plan.options.micro_batches * plan.mb_activation_bytes());
  const bool fits = need <= plan.options.gpu_bytes;
  plan.checkpoint_place_why =
      "layers stream, and with the " + std::to_string(plan.checkpoints() * plan.options.micro_batches) +
      " checkpoints (" + format_bytes(checkpoints) + ") on the GPU the step needs " + format_bytes(need) + " of its " +
      format_bytes(plan.options.gpu_bytes) +
      (fits ? ": they fit, and their copies leave the link to the weights" : ": more than the budget");
  if (fits) plan.host_checkpoints = false;
  return fits;
}

}  // namespace horizon::passes
