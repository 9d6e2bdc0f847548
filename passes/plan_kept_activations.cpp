#include "passes/plan_kept_activations.h"

#include <algorithm>

#include "ir/kept_activations.h"
#include "passes/executor_reserve.h"
#include "support/error.h"
#include "support/numbers.h"

namespace horizon::passes {
namespace {

// Only the launched stages keep arena plans: without kept blocks the two
// kept stages' plans go, and the arena is the largest of the rest.
void drop_kept_arena_plans(StepPlan& plan) {
  std::erase_if(plan.arena_plans,
                [](const ir::ArenaPlan& a) { return a.stage == ir::kKeepStage || a.stage == ir::kKeptBackwardStage; });
  plan.arena_bytes = 0;
  for (const ir::ArenaPlan& a : plan.arena_plans) plan.arena_bytes = std::max(plan.arena_bytes, a.bytes);
}

}  // namespace

bool plan_kept_activations(StepPlan& plan) {
  const int64_t wanted = plan.options.keep_activations;
  plan.kept_blocks = 0;
  if (wanted < -1)
    throw UserError("--keep-activations must be auto, 0 or a number of blocks, got " + std::to_string(wanted));
  if (wanted > plan.layers)
    throw UserError("--keep-activations " + std::to_string(wanted) + ": the model has " + std::to_string(plan.layers) +
                    " blocks; use at most " + std::to_string(plan.layers) + " or auto");
  if (wanted == 0 || plan.kept_mb_bytes() == 0) {
    drop_kept_arena_plans(plan);
    return false;
  }
  if (plan.checkpoint_every != 1) {
    if (wanted > 0)
      throw UserError("--keep-activations " + std::to_string(wanted) +
                      " needs every block's input checkpointed, but "
                      "--checkpoint-every is " +
                      std::to_string(plan.checkpoint_every) + "; use --checkpoint-every 1 or --keep-activations 0");
    drop_kept_arena_plans(plan);
    return false;
  }
  const double budget = plan.options.gpu_bytes - plan.options.gpu_reserve_bytes - executor_reserve_bytes(plan);
  auto fits = [&](int64_t n) {
    plan.kept_blocks = n;
    return static_cast<double>(plan.gpu_bytes_without_arena() + plan.arena_bytes) <= budget;
  };
  if (wanted > 0) {
    if (!fits(wanted)) {
      const double need = static_cast<double>(plan.gpu_bytes_without_arena() + plan.arena_bytes);
      plan.kept_blocks = 0;
      throw UserError("--keep-activations " + std::to_string(wanted) + " needs " + format_bytes(need) +
                      " of GPU memory, more than the " + format_bytes(budget) +
                      " available; keep fewer blocks, use --keep-activations auto, or reduce --resident");
    }
    return true;
  }
  int64_t n = plan.layers;
  while (n > 0 && !fits(n)) --n;  // the memory grows linearly: the first that fits is the most
  plan.kept_blocks = n;
  if (n == 0) drop_kept_arena_plans(plan);
  return n > 0;
}

}  // namespace horizon::passes
