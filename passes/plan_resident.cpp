#include "passes/plan_resident.h"

#include "passes/executor_reserve.h"
#include "support/error.h"
#include "support/numbers.h"

namespace horizon::passes {
namespace {

// Regions that bind another region's tensor, or whose tensor another binds.
std::vector<char> tied_regions(const StepPlan& plan) {
  std::vector<char> tied(plan.params.regions.size(), 0);
  for (size_t r = 0; r < plan.params.regions.size(); ++r)
    for (int t : plan.params.regions[r].bound) {
      const int home = plan.params.tensors[static_cast<size_t>(t)].region;
      if (home == static_cast<int>(r)) continue;
      tied[r] = 1;
      tied[static_cast<size_t>(home)] = 1;
    }
  return tied;
}

}  // namespace

bool plan_resident(StepPlan& plan) {
  const size_t regions = plan.params.regions.size();
  plan.resident.assign(regions, 0);
  const int64_t wanted = plan.options.resident;
  if (wanted == 0) return false;
  if (wanted < -1)
    throw UserError("--resident must be auto, 0 or a positive number of layers, got " + std::to_string(wanted));
  const std::vector<char> tied = tied_regions(plan);
  // Regions are numbered in forward order: embedding, blocks, head.
  const double budget = plan.options.gpu_bytes - plan.options.gpu_reserve_bytes - executor_reserve_bytes(plan);
  int64_t placed = 0;
  for (size_t r = 0; r < regions && (wanted < 0 || placed < wanted); ++r) {
    if (tied[r]) {
      if (wanted > 0)
        throw UserError("--resident " + std::to_string(wanted) + ": " + plan.params.regions[r].stage +
                        " shares a tied weight with another layer and always streams; use at most " +
                        std::to_string(placed) + " (or auto)");
      continue;
    }
    plan.resident[r] = 1;
    const double need = static_cast<double>(plan.gpu_bytes_without_arena() + plan.arena_bytes);
    if (need > budget) {
      plan.resident[r] = 0;
      if (wanted > 0)
        throw UserError("--resident " + std::to_string(wanted) + " needs " + format_bytes(need) +
                        " of GPU memory with " + std::to_string(placed + 1) + " layers resident, more than the " +
                        format_bytes(budget) + " available; use --resident " + std::to_string(placed) + " or auto");
      break;
    }
    ++placed;
  }
  if (wanted > placed)
    throw UserError("--resident " + std::to_string(wanted) + ": the model has only " + std::to_string(placed) +
                    " layers that can stay on the GPU; use --resident auto");
  return placed > 0;
}

}  // namespace horizon::passes
