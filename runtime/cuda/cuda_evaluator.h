// Validation loss on the GPU: the forward stages (embed, every block, head)
// of one batch through the CUDA stage executors, each stage instance's bf16
// weights copied from the host store into one device weight buffer right
// before it runs. Unstreamed and simple on purpose — evaluation has no
// backward or optimizer to overlap with — but it keeps a 1B model's
// evaluation at tens of milliseconds instead of a minute on the CPU.
// Buffers are allocated once, on first use.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "ir/module.h"
#include "runtime/host_store.h"
#include "runtime/trainer.h"

namespace horizon::runtime::cuda {

class CudaEvaluator {
 public:
  /// `lowered` after passes::lower; batches of `batch` x `seq` tokens.
  CudaEvaluator(const ir::Module& lowered, const HostStore& store, int64_t batch, int64_t seq);
  ~CudaEvaluator();

  /// The mean loss over all the batches' targets >= 0.
  double loss(const std::vector<TokenBatch>& batches);
  /// A DPO model's per-row log-probabilities of `batch` (ir::sequence_logprob_stage):
  /// the reference pass on the GPU. std::invalid_argument for another head.
  std::vector<float> sequence_logprobs(const TokenBatch& batch);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace horizon::runtime::cuda
