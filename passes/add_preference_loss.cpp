#include "passes/add_preference_loss.h"

#include "ir/lm_head_loss.h"
#include "support/error.h"

namespace horizon::passes {

bool add_preference_loss(ir::Module& m, const PreferenceLoss& loss) {
  for (const ir::Stage& s : m.stages)
    if (s.name.find(".bwd") != std::string::npos)
      throw UserError("add_preference_loss runs before autodiff; stage " + s.name + " already exists");
  if (!(loss.beta > 0)) throw UserError("--beta must be positive, got " + std::to_string(loss.beta));
  if (!(loss.label_smoothing >= 0 && loss.label_smoothing < 0.5))
    throw UserError("--label-smoothing must be in [0, 0.5), got " + std::to_string(loss.label_smoothing));
  if (loss.ipo && loss.label_smoothing != 0)
    throw UserError("--label-smoothing applies to the sigmoid loss; TRL's ipo loss has none");
  ir::Stage* head = m.find_stage("head");
  if (!head) throw UserError("add_preference_loss: the module has no stage 'head'");
  if (head->find_value(kReferenceInput) >= 0) return false;
  ir::split_lm_head_loss(*head);
  if (head->outputs.size() != 1) throw UserError("stage head: DPO needs a head with one output, the loss");
  const int loss_value = head->outputs[0];
  ir::Instr* ce = nullptr;
  for (ir::Instr& in : head->instrs)
    if (in.results[0] == loss_value && in.op == ir::Op::cross_entropy) ce = &in;
  if (!ce) throw UserError("stage head: DPO replaces the head's cross_entropy loss, and this head has none");
  const ir::Dim batch = head->values[static_cast<size_t>(ce->operands[1])].type.shape.at(0);
  const ir::TensorType per_row{ir::DType::f32, {batch}};
  const int logits = ce->operands[0], targets = ce->operands[1];
  const int reference = head->add_value(kReferenceInput, per_row, ir::ValueKind::input);
  head->inputs.push_back(reference);
  const int policy = head->add_value(kPolicyLogps, per_row, ir::ValueKind::result);
  const ir::Instr logprob{ir::Op::sequence_logprob, {logits, targets}, {policy}, {{"average", int64_t{loss.ipo}}}};
  const ir::Instr dpo{ir::Op::dpo_loss,
                      {policy, reference},
                      {loss_value},
                      {{"beta", loss.beta}, {"label_smoothing", loss.label_smoothing}, {"ipo", int64_t{loss.ipo}}}};
  std::vector<ir::Instr> instrs;
  for (ir::Instr& in : head->instrs) {
    if (&in != ce) {
      instrs.push_back(std::move(in));
      continue;
    }
    instrs.push_back(logprob);
    instrs.push_back(dpo);
  }
  head->instrs = std::move(instrs);
  return true;
}

}  // namespace horizon::passes
