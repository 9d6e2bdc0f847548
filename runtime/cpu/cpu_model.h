// Runs a lowered module on the CPU for one batch: forward through embed and
// every block instance keeping only the block inputs (the activation
// checkpoints), then head.bwd (loss and its gradient), the block.bwd
// instances in reverse (each recomputing its block from its checkpoint) and
// embed.bwd. Weights are widened from the store's bf16 plane right before a
// stage instance runs, as a device would stream them.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "ir/module.h"
#include "runtime/host_store.h"

namespace horizon::runtime {

/// One (micro-)batch as the model reads it: borrowed rows of a TokenBatch.
struct BatchView {
  const int32_t* tokens = nullptr;
  const int32_t* targets = nullptr;
  const int32_t* positions = nullptr;  // null: 0..seq-1 in every row
  const int32_t* segments = nullptr;   // null: one document per row
  int64_t batch = 0, seq = 0;
  /// What the loss divides its sum by: the targets >= 0 of the whole step
  /// when this is one of its micro-batches; -1 for this batch's own.
  int64_t loss_count = -1;
  /// Preference training: the reference model's log-probability of each row
  /// ([batch]; rows 2k, 2k+1 a chosen/rejected pair), and loss_count counts pairs.
  const float* reference = nullptr;
};

class CpuModel {
 public:
  /// `lowered` must have been through passes::lower (it has the .bwd stages).
  CpuModel(const ir::Module& lowered, const HostStore& store);
  ~CpuModel();

  /// Mean loss over targets >= 0; gradients are added into grads[tensor]
  /// (sized to each stored tensor), so micro-batches accumulate. With `tied`,
  /// the gradient a stage instance computes for a tensor stored in another
  /// instance's region (the head's lm_head tied to the embedding) is added
  /// into (*tied)[tensor] instead: a streamed step accumulates it over
  /// micro-batches in a buffer of its own, and a reference that must match
  /// it bit for bit has to sum in the same order.
  float forward_backward(const int32_t* tokens, const int32_t* targets, int64_t batch, int64_t seq,
                         std::vector<std::vector<float>>& grads, std::vector<std::vector<float>>* tied = nullptr);
  float forward_backward(const BatchView& batch, std::vector<std::vector<float>>& grads,
                         std::vector<std::vector<float>>* tied = nullptr);
  /// Forward only: the mean loss.
  float loss(const int32_t* tokens, const int32_t* targets, int64_t batch, int64_t seq);
  float loss(const BatchView& batch);
  /// Forward only: logits [batch, seq, vocab].
  std::vector<float> logits(const int32_t* tokens, int64_t batch, int64_t seq);
  /// Preference heads only: each row's log-probability under the current
  /// weights ([batch]), forward only; what the reference pass caches.
  std::vector<float> sequence_logprobs(const BatchView& batch);
  /// Preference heads only: the rows' log-probabilities of the last
  /// forward_backward (for the reward metrics).
  const std::vector<float>& last_sequence_logprobs() const;
  /// Whether the head is a preference (DPO) head with a %reference input.
  bool preference() const;

  /// The vocabulary: the logits' last dim.
  int64_t vocab() const;

  /// Peak bytes of activations and intermediates in the last call.
  int64_t last_peak_bytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace horizon::runtime
