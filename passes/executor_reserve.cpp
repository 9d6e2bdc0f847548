#include "passes/executor_reserve.h"

#include "passes/step_plan.h"

namespace horizon::passes {

double executor_reserve_bytes(StepPlan& plan) {
  if (plan.executor_reserve) return *plan.executor_reserve;
  const ExecutorReserve& reserve = plan.options.executor;
  const double scratch = reserve.stage_scratch
                             ? static_cast<double>(reserve.stage_scratch(*plan.graph, plan.arena_plans,
                                                                         plan.mb_sequences, plan.options.seq))
                             : 0.0;
  double bytes = scratch + reserve.margin_bytes;
  if (reserve.evaluation) {
    // An upper bound: the evaluator's arena and scratch are at most the
    // step's; its weights fill one slot and its activations two buffers.
    bytes += scratch + static_cast<double>(plan.arena_bytes) + static_cast<double>(plan.slot_elements * 2) +
             2.0 * static_cast<double>(plan.options.micro_batches * plan.mb_activation_bytes());
  }
  plan.executor_reserve = bytes;
  return bytes;
}

}  // namespace horizon::passes
