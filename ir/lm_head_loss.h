// The fused lm head loss seen as the two ops it stands for. Readers of a
// lowered forward head that need what the model wrote — the logits, to
// sample from; the graph as written, for a Hugging Face export — split it
// back. (passes/fuse_lm_head_loss makes the fused op.)
#pragma once

#include "ir/module.h"

namespace horizon::ir {

/// Replaces each `%loss = linear_cross_entropy(%h, %w, %t)` of `s` with
/// `%logits = linear(%h, %w)` and `%loss = cross_entropy(%logits, %t)`; the
/// new value is named "logits" (made unique). Returns whether it split any.
bool split_lm_head_loss(Stage& s);

/// Undoes passes/add_preference_loss on `s`: `%p = sequence_logprob(%logits,
/// %t)` and `%loss = dpo_loss(%p, %reference)` become `%loss =
/// cross_entropy(%logits, %t)` and the %reference input goes: the model as
/// written, for an export. Returns whether it changed anything.
bool remove_preference_loss(Stage& s);

/// A DPO head's forward cut at its per-row log-probabilities: the stage
/// without dpo_loss and the %reference input, its one output
/// %policy_logps — what a reference pass runs. std::invalid_argument for a
/// head without them.
Stage sequence_logprob_stage(const Stage& head);

}  // namespace horizon::ir
