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
namespace {

// The forward stage whose parameters a stage binds ("block.bwd" -> "block").
std::string forward_name(const std::string& stage) { return stage.substr(0, stage.find('.')); }

// Operand roles of a stage's inputs: a backward stage takes its forward's
// inputs, then the gradient of the forward's activation output ("dy").
std::string input_role(const ir::Stage& fwd, const ir::Stage& s, size_t i) {
  if (i >= fwd.inputs.size()) return "dy";
  if (s.values[static_cast<size_t>(s.inputs[i])].type.dtype == ir::DType::i32) return i == 0 ? "tokens" : "targets";
  return "x";
}

std::string output_role(const ir::Stage& s, size_t o) {
  if (s.values[static_cast<size_t>(s.outputs[o])].type.rank() == 0) return "loss";
  return s.grads.empty() ? "y" : "dx";
}

const ir::Operand* find_operand(const ir::SchedInstr& in, const std::string& role, bool write) {
  for (const ir::Operand& op : in.operands)
    if (op.role == role && op.write == write) return &op;
  return nullptr;
}

}  // namespace

LaunchPlan ScheduleExecutor::Impl::prepare_launch(int index) {
  const ir::SchedInstr& in = schedule.instrs[static_cast<size_t>(index)];
  auto fail = [&](const std::string& problem) { return UserError(where(index) + ": " + problem); };
  LaunchPlan p;
  p.stage = graph.find_stage(in.stage);
  if (!p.stage) throw fail("the graph has no stage '" + in.stage + "'");
  const ir::Stage* fwd = graph.find_stage(forward_name(in.stage));
  if (!fwd) throw fail("the graph has no forward stage for '" + in.stage + "'");
  if (in.op == ir::SchedOp::recompute && !p.stage->grads.empty()) throw fail("recompute runs a forward stage");
  const ir::ParamLayout& layout = store.layout();
  p.region = layout.region_of(fwd->name, in.instance);
  if (p.region < 0) throw fail("no parameter region for " + fwd->name + "[" + std::to_string(in.instance) + "]");
  p.slot_offsets = ir::slot_offsets(layout, p.region, &p.slot_elements);
  p.region_elements = layout.regions[static_cast<size_t>(p.region)].elements;
  if (p.slot_offsets.size() != p.stage->params.size()) throw fail("the stage's parameters do not match its region");
  for (const ir::ArenaPlan& a : schedule.arena_plans)
    if (a.stage == in.stage) p.arena_plan = &a;
  if (!p.arena_plan) throw fail("the schedule has no arena plan for stage " + in.stage);
  if (p.arena_plan->offsets.size() != p.stage->values.size() || p.arena_plan->sizes.size() != p.stage->values.size())
    throw fail("the arena plan of " + in.stage + " does not cover the stage's values");
  auto& executor = executors[in.stage];
  if (!executor) executor = std::make_unique<CpuStageExecutor>(*p.stage);
  p.executor = executor.get();

  auto operand = [&](const std::string& role, bool write, int64_t bytes, bool exact) {
    const ir::Operand* op = find_operand(in, role, write);
    if (!op) throw fail(std::string("missing operand '") + role + "' (" + (write ? "w" : "r") + ")");
    if (exact ? op->range.bytes != bytes : op->range.bytes < bytes)
      throw fail("operand '" + role + "' has " + std::to_string(op->range.bytes) + " bytes, the stage needs " +
                 std::to_string(bytes));
    return op->range;
  };
  auto bytes_of = [&](int value) {
    return p.stage->values[static_cast<size_t>(value)].type.elements(mb_batch, seq) * 4;  // f32 and i32 alike
  };
  p.weights = operand("weights", false, p.slot_elements * 2, false);
  for (size_t i = 0; i < p.stage->inputs.size(); ++i)
    p.inputs.push_back(operand(input_role(*fwd, *p.stage, i), false, bytes_of(p.stage->inputs[i]), true));
  for (size_t o = 0; o < p.stage->outputs.size(); ++o)
    p.outputs.push_back(operand(output_role(*p.stage, o), true, bytes_of(p.stage->outputs[o]), true));
  if (!p.stage->grads.empty()) {
    p.grad = operand("grad", true, p.region_elements * 4, true);
    if (p.slot_elements > p.region_elements)
      p.grad_tied = operand("grad_tied", true, (p.slot_elements - p.region_elements) * 4, true);
  }
  p.arena = operand("arena", true, p.arena_plan->bytes, false);
  if (schedule.buffers[static_cast<size_t>(p.arena.buffer)].kind != ir::BufferKind::workspace)
    throw fail("operand 'arena' is not the workspace buffer");

  weights_fp32.resize(std::max<size_t>(weights_fp32.size(), static_cast<size_t>(p.slot_elements)));
  grad_partial.resize(std::max<size_t>(grad_partial.size(), static_cast<size_t>(p.slot_elements)));
  return p;
}

void ScheduleExecutor::Impl::launch(int index, StreamStats& stats) {
  const ir::SchedInstr& in = schedule.instrs[static_cast<size_t>(index)];
  const LaunchPlan& p = launches.at(index);
  const ir::Stage& s = *p.stage;

  // The slot holds bf16; the CPU kernels compute in fp32 from its exact widening.
  const uint16_t* slot = reinterpret_cast<const uint16_t*>(at(p.weights));
  float* weights = weights_fp32.data();
  for (int64_t i = 0; i < p.slot_elements; ++i) weights[i] = bf16_to_float(slot[i]);

  StageBindings b;
  for (size_t k = 0; k < s.params.size(); ++k) b.params.push_back(weights + p.slot_offsets[k]);
  for (const ir::Range& r : p.inputs) b.inputs.push_back(at(r));
  for (const ir::Range& r : p.outputs) b.outputs.push_back(reinterpret_cast<float*>(at(r)));

  // A parameter's gradient sits at its slot offset: the region's own tensors
  // in `grad`, tied tensors after them in `grad_tied`. An accumulating launch
  // computes into scratch first and adds, as a GEMM epilogue with beta = 1 would.
  auto gradient_home = [&](int64_t offset) {
    if (offset < p.region_elements) return reinterpret_cast<float*>(at(p.grad)) + offset;
    return reinterpret_cast<float*>(at(p.grad_tied)) + (offset - p.region_elements);
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
  const ir::ArenaPlan& plan = *p.arena_plan;
  int64_t& high_water = stats.arena_high_water;
  b.transient = [&](int value, int64_t bytes) -> float* {
    const int64_t offset = plan.offsets[static_cast<size_t>(value)], size = plan.sizes[static_cast<size_t>(value)];
    const std::string& name = s.values[static_cast<size_t>(value)].name;
    if (offset < 0) throw UserError(where(index) + ": the arena plan of " + s.name + " has no place for %" + name);
    if (bytes > size || offset + size > p.arena.bytes)
      throw UserError(where(index) + ": %" + name + " needs " + std::to_string(bytes) + " bytes at arena offset " +
                      std::to_string(offset) + "; the plan gives " + std::to_string(size) + " in an arena of " +
                      std::to_string(p.arena.bytes));
    high_water = std::max(high_water, p.arena.offset + offset + size);
    return reinterpret_cast<float*>(arena + offset);
  };
  p.executor->run_in_place(mb_batch, seq, b);

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
