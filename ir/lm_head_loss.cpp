#include "ir/lm_head_loss.h"

#include <stdexcept>

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

Stage sequence_logprob_stage(const Stage& head) {
  Stage s = head;
  const int reference = s.find_value("reference"), logps = s.find_value("policy_logps");
  if (reference < 0 || logps < 0) throw std::invalid_argument("stage " + head.name + " is not a DPO head");
  std::erase_if(s.instrs, [](const Instr& in) { return in.op == Op::dpo_loss; });
  s.outputs = {logps};
  std::erase_if(s.inputs, [&](int v) { return v == reference; });
  s.values[static_cast<size_t>(reference)].kind = ValueKind::result;
  for (int v : head.outputs) s.values[static_cast<size_t>(v)].kind = ValueKind::result;
  s.drop_undefined_results();
  return s;
}

bool remove_preference_loss(Stage& s) {
  const int reference = s.find_value("reference");
  if (reference < 0) return false;
  std::vector<Instr> instrs;
  std::vector<int> logprob_of(s.values.size(), -1);  // %p -> the index of its sequence_logprob
  for (Instr& in : s.instrs) {
    if (in.op == Op::sequence_logprob) {
      logprob_of[static_cast<size_t>(in.results[0])] = static_cast<int>(instrs.size());
      instrs.push_back(std::move(in));
    } else if (in.op == Op::dpo_loss && logprob_of[static_cast<size_t>(in.operands[0])] >= 0) {
      Instr& lp = instrs[static_cast<size_t>(logprob_of[static_cast<size_t>(in.operands[0])])];
      lp = Instr{Op::cross_entropy, {lp.operands[0], lp.operands[1]}, {in.results[0]}, {}};
    } else {
      instrs.push_back(std::move(in));
    }
  }
  s.instrs = std::move(instrs);
  std::erase_if(s.inputs, [&](int v) { return v == reference; });
  s.values[static_cast<size_t>(reference)].kind = ValueKind::result;
  s.drop_undefined_results();
  return true;
}

}  // namespace horizon::ir
