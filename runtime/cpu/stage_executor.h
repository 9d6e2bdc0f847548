// Runs one instance of a graph-IR stage on the CPU backend: each instruction
// (or each fused elementwise group, through the JIT) in order, with every
// intermediate freed after its last use. Weights arrive as fp32 (the store
// widens its bf16 copy), activations are fp32, tokens int32.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ir/module.h"

namespace horizon::runtime {

/// A float tensor owned by the caller of run(): data plus element count.
struct StageOutput {
  std::vector<float> data;
};

class CpuStageExecutor {
 public:
  /// Prepares `stage` (liveness, fused groups compiled by the CPU JIT).
  /// `keep` names extra values to return (e.g. "logits" for sampling).
  explicit CpuStageExecutor(const ir::Stage& stage, std::vector<std::string> keep = {});
  ~CpuStageExecutor();

  /// inputs[i]: data of stage input i (int32 for i32 inputs, fp32 otherwise).
  /// params[p]: fp32 weights of parameter p.
  /// Returns the stage outputs, then the `keep` values, then the parameter
  /// gradients in the order of Stage::grads.
  std::vector<StageOutput> run(int64_t batch, int64_t seq, const std::vector<const void*>& inputs,
                               const std::vector<const float*>& params);

  /// Peak bytes of intermediate buffers held at once during the last run().
  int64_t last_peak_bytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace horizon::runtime
