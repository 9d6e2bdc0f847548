// add_preference_loss: turns a language model's head into the DPO objective
// (TRL's DPOTrainer). The head's `%loss = cross_entropy(%logits, %targets)`
// becomes
//   %policy_logps = sequence_logprob(%logits, %targets) {average}
//   %loss = dpo_loss(%policy_logps, %reference) {beta, label_smoothing, ipo}
// and the head gets an input %reference f32[B]: the starting model's
// sequence log-probabilities of the same rows, computed once before training
// (so no second model is held). Rows 2k and 2k+1 are the chosen and rejected
// response of pair k; targets carry loss on the response tokens only. IPO
// uses each sequence's mean token log-probability, as TRL does. Run before
// autodiff, which differentiates the new ops like any other.
#pragma once

#include "ir/module.h"

namespace horizon::passes {

struct PreferenceLoss {
  double beta = 0.1;
  double label_smoothing = 0.0;
  bool ipo = false;  // --loss-type ipo (else sigmoid)
};

/// Name of the head's new input and of the per-sequence log-probabilities.
inline constexpr const char* kReferenceInput = "reference";
inline constexpr const char* kPolicyLogps = "policy_logps";

/// UserError when the head has no cross_entropy loss to replace, or autodiff
/// already ran. Returns whether it changed the head (false: already DPO).
bool add_preference_loss(ir::Module& m, const PreferenceLoss& loss);

}  // namespace horizon::passes
