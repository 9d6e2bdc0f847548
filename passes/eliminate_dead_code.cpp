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
  std::vector<bool> keep_value(s.values.size(), false);
  for (int v : s.inputs) keep_value[v] = true;
  for (const ir::Param& p : s.params) keep_value[p.value] = true;
  std::vector<ir::Instr> instrs;
  for (size_t i = 0; i < s.instrs.size(); ++i) {
    if (!keep[i]) continue;
    for (int r : s.instrs[i].results) keep_value[r] = true;
    instrs.push_back(std::move(s.instrs[i]));
  }
  std::vector<int> remap(s.values.size(), -1);
  std::vector<ir::Value> values;
  for (size_t v = 0; v < s.values.size(); ++v) {
    if (!keep_value[v]) continue;
    remap[v] = static_cast<int>(values.size());
    values.push_back(std::move(s.values[v]));
  }
  auto fix = [&](int& v) { v = remap[v]; };
  for (int& v : s.inputs) fix(v);
  for (ir::Param& p : s.params) fix(p.value);
  for (ir::Instr& in : instrs) {
    for (int& v : in.operands) fix(v);
    for (int& v : in.results) fix(v);
  }
  for (int& v : s.outputs) fix(v);
  for (ir::ParamGrad& g : s.grads) fix(g.value);
  s.values = std::move(values);
  s.instrs = std::move(instrs);
  return true;
}

}  // namespace

bool eliminate_dead_code(ir::Module& m) {
  bool changed = false;
  for (ir::Stage& s : m.stages) changed |= eliminate_in_stage(s);
  return changed;
}

}  // namespace horizon::passes
