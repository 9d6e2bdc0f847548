// Runs one instance of a graph-IR stage on the CPU backend: each instruction
// (or each fused elementwise group, through the JIT) in order, with every
// intermediate freed after its last use. Weights arrive as fp32 (the store
// widens its bf16 copy), activations are fp32, tokens int32. A streamed
// runtime instead places every value itself (run_in_place): outputs and
// gradients in its buffers, intermediates at their arena offsets.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ir/module.h"

namespace horizon::runtime {

/// A float tensor owned by the caller of run(): data plus element count.
struct StageOutput {
  std::vector<float> data;
};

/// Where run_in_place finds and puts every value of a stage; nothing is allocated.
struct StageBindings {
  std::vector<const void*> inputs;   // per Stage::inputs (int32 or fp32)
  std::vector<const float*> params;  // per Stage::params
  std::vector<float*> outputs;       // per Stage::outputs: written
  std::vector<float*> grads;         // per Stage::grads: overwritten
  /// Home of every other result, asked for when it is computed; it may reuse
  /// the bytes of values already dead (an arena plan).
  std::function<float*(int value, int64_t bytes)> transient;
  /// What the loss divides by: the step's targets >= 0 when this run is one
  /// micro-batch of a step; -1 for the targets of this run.
  int64_t loss_count = -1;
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
  /// gradients in the order of Stage::grads. `loss_count` as in StageBindings.
  std::vector<StageOutput> run(int64_t batch, int64_t seq, const std::vector<const void*>& inputs,
                               const std::vector<const float*>& params, int64_t loss_count = -1);

  /// Runs the stage with every value where `bindings` says.
  void run_in_place(int64_t batch, int64_t seq, const StageBindings& bindings);

  /// Peak bytes of intermediate buffers held at once during the last run().
  int64_t last_peak_bytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace horizon::runtime
