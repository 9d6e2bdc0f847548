#include "passes/fuse_elementwise.h"

namespace horizon::passes {
namespace {

bool fusible(const ir::Stage& s, const ir::Instr& in, const std::vector<ir::Dim>* shape) {
  if (ir::op_kind(in.op) != ir::OpKind::elementwise) return false;
  const auto& t = s.values[in.results[0]].type;
  if (t.rank() == 0 || t.shape.back().is_symbolic()) return false;
  return !shape || t.shape == *shape;
}

bool fuse_in_stage(ir::Stage& s) {
  bool changed = false;
  int64_t next_group = 0;
  for (auto& in : s.instrs)
    if (auto it = in.attrs.find("group"); it != in.attrs.end())
      next_group = std::max(next_group, std::get<int64_t>(it->second) + 1);
  for (size_t i = 0; i < s.instrs.size();) {
    if (s.instrs[i].attrs.count("group") || !fusible(s, s.instrs[i], nullptr)) {
      ++i;
      continue;
    }
    const auto& shape = s.values[s.instrs[i].results[0]].type.shape;
    size_t j = i;
    while (j + 1 < s.instrs.size() && !s.instrs[j + 1].attrs.count("group") && fusible(s, s.instrs[j + 1], &shape)) ++j;
    if (j > i) {
      for (size_t k = i; k <= j; ++k) s.instrs[k].attrs["group"] = next_group;
      ++next_group;
      changed = true;
    }
    i = j + 1;
  }
  return changed;
}

}  // namespace

bool fuse_elementwise(ir::Module& m) {
  bool changed = false;
  for (ir::Stage& s : m.stages) changed |= fuse_in_stage(s);
  return changed;
}

}  // namespace horizon::passes
