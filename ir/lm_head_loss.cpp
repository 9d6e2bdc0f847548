#include "ir/lm_head_loss.h"

#include "ir/shape_rules.h"

namespace horizon::ir {

bool split_lm_head_loss(Stage& s) {
  bool changed = false;
  std::vector<Instr> instrs;
  for (Instr& in : s.instrs) {
    if (in.op != Op::linear_cross_entropy) {
      instrs.push_back(std::move(in));
      continue;
    }
    const int h = in.operands[0], w = in.operands[1], targets = in.operands[2];
    std::string name = "logits";
    for (int k = 1; s.find_value(name) >= 0; ++k) name = "logits." + std::to_string(k);
    const TensorType type = infer_result_types(Op::linear, {s.values[h].type, s.values[w].type}, {})[0];
    const int logits = s.add_value(name, type, ValueKind::result);
    instrs.push_back(Instr{Op::linear, {h, w}, {logits}, {}});
    instrs.push_back(Instr{Op::cross_entropy, {logits, targets}, {in.results[0]}, {}});
    changed = true;
  }
  s.instrs = std::move(instrs);
  return changed;
}

}  // namespace horizon::ir
