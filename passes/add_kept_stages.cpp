#include "passes/add_kept_stages.h"

#include <stdexcept>

#include "ir/kept_activations.h"
#include "passes/eliminate_dead_code.h"

namespace horizon::passes {
namespace {

// Ops whose recompute costs FLOPs rather than memory traffic.
bool expensive(ir::Op op) {
  const ir::OpKind k = ir::op_kind(op);
  return k == ir::OpKind::matmul || k == ir::OpKind::attention;
}

// The forward values of `bwd` computed by expensive ops: instructions none
// of whose operands depend on the gradient input %d_y (the last input).
std::vector<int> expensive_forward_values(const ir::Stage& bwd) {
  std::vector<bool> from_dy(bwd.values.size(), false);
  from_dy[static_cast<size_t>(bwd.inputs.back())] = true;
  std::vector<int> saved;
  for (const ir::Instr& in : bwd.instrs) {
    bool depends = false;
    for (int v : in.operands) depends = depends || from_dy[static_cast<size_t>(v)];
    for (int r : in.results) from_dy[static_cast<size_t>(r)] = depends;
    if (!depends && expensive(in.op)) saved.insert(saved.end(), in.results.begin(), in.results.end());
  }
  return saved;
}

}  // namespace

bool add_kept_stages(ir::Module& m) {
  const ir::Stage* fwd = m.find_stage("block");
  const ir::Stage* bwd = m.find_stage("block.bwd");
  if (!fwd || !bwd || m.find_stage(ir::kKeepStage)) return false;
  const std::vector<int> saved = expensive_forward_values(*bwd);
  if (saved.empty()) return false;

  ir::Stage keep = *fwd, kept_bwd = *bwd;
  keep.name = ir::kKeepStage;
  kept_bwd.name = ir::kKeptBackwardStage;
  for (int v : saved) {
    const ir::Value& value = bwd->values[static_cast<size_t>(v)];
    const int f = fwd->find_value(value.name);
    if (f < 0 || fwd->values[static_cast<size_t>(f)].type != value.type)
      throw std::logic_error("add_kept_stages: block.bwd's %" + value.name + " is not the forward's");
    keep.outputs.push_back(f);
  }
  // The saved values' definitions go; the values become inputs before %d_y.
  std::vector<bool> is_saved(kept_bwd.values.size(), false);
  for (int v : saved) is_saved[static_cast<size_t>(v)] = true;
  std::vector<ir::Instr> instrs;
  for (ir::Instr& in : kept_bwd.instrs)
    if (in.results.empty() || !is_saved[static_cast<size_t>(in.results[0])]) instrs.push_back(std::move(in));
  kept_bwd.instrs = std::move(instrs);
  for (int v : saved) kept_bwd.values[static_cast<size_t>(v)].kind = ir::ValueKind::input;
  kept_bwd.inputs.insert(kept_bwd.inputs.end() - 1, saved.begin(), saved.end());
  eliminate_dead_code_in_stage(kept_bwd);  // forward ops that only fed a saved value
  m.stages.push_back(std::move(keep));
  m.stages.push_back(std::move(kept_bwd));
  return true;
}

}  // namespace horizon::passes
