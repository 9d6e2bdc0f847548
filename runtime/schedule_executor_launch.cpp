// Stage launches of the schedule executor: a launch (or recompute) runs one
// graph-IR stage instance on one micro-batch with its inputs and outputs in
// the operand ranges, its weights widened from the slot, its gradients in the
// accumulator (`grad`, and `grad_tied` for tensors it binds from another
// region) and every transient at the arena offset plan_memory gave it.
#include <algorithm>

#include "runtime/schedule_executor_impl.h"
#include "support/bf16.h"
#include "support/error.h"

namespace horizon::runtime {

void ScheduleExecutor::Impl::launch(int index, StreamStats& stats) {
  const ir::SchedInstr& in = plan.instr(index);
  const LaunchPlan& p = plan.launches.at(index);
  const ir::Stage& s = *p.stage;

  // The slot holds bf16; the CPU kernels compute in fp32 from its exact widening.
  const uint16_t* slot = reinterpret_cast<const uint16_t*>(at(p.weights));
  float* weights = weights_fp32.data();
  for (int64_t i = 0; i < p.slot_elements; ++i) weights[i] = bf16_to_float(slot[i]);

  StageBindings b;
  for (size_t k = 0; k < s.params.size(); ++k) b.params.push_back(weights + p.slot_offsets[k]);
  for (const ir::Range& r : p.inputs) b.inputs.push_back(at(r));
  for (const ir::Range& r : p.outputs) b.outputs.push_back(reinterpret_cast<float*>(at(r)));
  b.loss_count = loss_count;

  // A parameter's gradient sits at its slot offset: the region's own tensors
  // in `grad`, tied tensors after them in `grad_tied`. An accumulating launch
  // computes into scratch first and adds, as a GEMM epilogue with beta = 1 would.
  auto gradient_home = [&](int64_t offset) {
    const auto [range, elements] = p.gradient_home(offset);
    return reinterpret_cast<float*>(at(*range)) + elements;
  };
  std::vector<bool> has_grad(s.params.size(), false);
  for (const ir::ParamGrad& g : s.grads) {
    has_grad[static_cast<size_t>(g.param)] = true;
    const int64_t offset = p.slot_offsets[static_cast<size_t>(g.param)];
    b.grads.push_back(in.accumulate ? grad_partial.data() + offset : gradient_home(offset));
  }
  // A parameter without a gradient still owns its accumulator bytes, which
  // hold the previous layer's gradient: the first micro-batch clears them.
  if (!s.grads.empty() && !in.accumulate)
    for (size_t k = 0; k < s.params.size(); ++k)
      if (!has_grad[k]) {
        const int64_t n = s.values[static_cast<size_t>(s.params[k].value)].type.static_elements();
        std::fill(gradient_home(p.slot_offsets[k]), gradient_home(p.slot_offsets[k]) + n, 0.0f);
      }

  char* arena = at(p.arena);
  const ir::ArenaPlan& arena_plan = *p.arena_plan;
  int64_t& high_water = stats.arena_high_water;
  b.transient = [&](int value, int64_t bytes) -> float* {
    const int64_t offset = arena_plan.offsets[static_cast<size_t>(value)];
    const int64_t size = arena_plan.sizes[static_cast<size_t>(value)];
    const std::string& name = s.values[static_cast<size_t>(value)].name;
    if (offset < 0) throw UserError(plan.where(index) + ": the arena plan of " + s.name + " has no place for %" + name);
    if (bytes > size || offset + size > p.arena.bytes)
      throw UserError(plan.where(index) + ": %" + name + " needs " + std::to_string(bytes) + " bytes at arena offset " +
                      std::to_string(offset) + "; the plan gives " + std::to_string(size) + " in an arena of " +
                      std::to_string(p.arena.bytes));
    high_water = std::max(high_water, p.arena.offset + offset + size);
    return reinterpret_cast<float*>(arena + offset);
  };
  executors.at(s.name)->run_in_place(plan.mb_batch, plan.seq, b);

  if (in.accumulate)
    for (const ir::ParamGrad& g : s.grads) {
      const int64_t offset = p.slot_offsets[static_cast<size_t>(g.param)];
      const int64_t n =
          s.values[static_cast<size_t>(s.params[static_cast<size_t>(g.param)].value)].type.static_elements();
      float* dst = gradient_home(offset);
      const float* src = grad_partial.data() + offset;
      for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
    }
}

}  // namespace horizon::runtime
