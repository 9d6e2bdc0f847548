// Runs one graph-IR stage instance on the GPU: every non-GEMM instruction or
// fused group as an NVRTC-compiled kernel (codegen/cuda), every linear op as
// a cuBLASLt GEMM, transients at the arena offsets plan_memory chose.
// Everything is compiled and allocated when the executor is built; launch()
// only enqueues work on a stream: no allocation, no synchronization.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ir/module.h"
#include "ir/schedule.h"

namespace horizon::runtime::cuda {

/// Device pointers of one launch, by the stage's interface.
struct DeviceStageBindings {
  std::vector<const void*> inputs;  // per Stage::inputs: int32 (tokens, targets) or fp32 data
  std::vector<const void*> params;  // per Stage::params: bf16 weights (inside a weight slot)
  std::vector<void*> outputs;       // per Stage::outputs: fp32 (a scalar loss is one float)
  std::vector<float*> grads;        // per Stage::grads: fp32, inside a gradient accumulator
  bool accumulate = false;          // add into `grads` instead of overwriting them
  void* arena = nullptr;            // transients at the ArenaPlan's offsets
  /// Device int: what the loss divides by, the targets >= 0 of the whole
  /// step when this launch is one of its micro-batches; null: its own.
  const int* loss_count = nullptr;
};

class CudaStageExecutor {
 public:
  /// Generates and compiles (NVRTC, cubin cache) the stage's kernels for
  /// `batch` sequences of `seq` tokens and prepares its GEMMs; allocates
  /// its fixed scratch (GEMM workspace, bf16 operand copies) on the device.
  CudaStageExecutor(const ir::Stage& stage, const ir::ArenaPlan& plan, int64_t batch, int64_t seq);
  ~CudaStageExecutor();
  CudaStageExecutor(const CudaStageExecutor&) = delete;
  CudaStageExecutor& operator=(const CudaStageExecutor&) = delete;

  /// Enqueues the whole stage on `stream`. Launch arguments live in the
  /// executor until enqueued: one thread launches a given executor at a time.
  void launch(const DeviceStageBindings& bindings, cudaStream_t stream);

  /// One step of the stage (a kernel, a GEMM, a gradient addition) and its GPU time.
  struct StepTime {
    std::string what;  // the stage, instruction(s), kernel or GEMM and shapes
    double ms = 0;
  };
  /// Runs the stage like launch() with an event around every step and waits
  /// for it: where a stage's time goes, for perf reports (not for training).
  std::vector<StepTime> profile(const DeviceStageBindings& bindings, cudaStream_t stream);

  /// Device bytes this executor allocated for itself (scratch, workspace).
  int64_t scratch_bytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace horizon::runtime::cuda
