#include "passes/eliminate_dead_code.h"

namespace horizon::passes {
namespace {

bool eliminate_in_stage(ir::Stage& s) {
  std::vector<bool> live(s.values.size(), false);
  for (int v : s.outputs) live[v] = true;
  for (const ir::ParamGrad& g : s.grads) live[g.value] = true;
  std::vector<bool> keep(s.instrs.size(), false);
  for (int i = static_cast<int>(s.instrs.size()) - 1; i >= 0; --i) {
    for (int r : s.instrs[i].results) keep[i] = keep[i] || live[r];
    if (keep[i])
      for (int v : s.instrs[i].operands) live[v] = true;
  }
  bool changed = false;
  for (bool k : keep) changed |= !k;
  if (!changed) return false;

  // Inputs and parameters stay (they are the stage's interface); results of
  // removed instructions go, and indices are renumbered in order.
  std::vector<ir::Instr> instrs;
  for (size_t i = 0; i < s.instrs.size(); ++i)
    if (keep[i]) instrs.push_back(std::move(s.instrs[i]));
  s.instrs = std::move(instrs);
  s.drop_undefined_results();
  return true;
}

}  // namespace

bool eliminate_dead_code_in_stage(ir::Stage& s) { return eliminate_in_stage(s); }

bool eliminate_dead_code(ir::Module& m) {
  bool changed = false;
  for (ir::Stage& s : m.stages) changed |= eliminate_in_stage(s);
  return changed;
}

}  // namespace horizon::passes
