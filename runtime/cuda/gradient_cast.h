// The CUDA executor's cast instruction (config.bf16_gradients): a gradient
// accumulator's fp32 values into the bf16 pair layout in place
// (support/bf16_gradient.h), enqueued on the compute stream right before
// the accumulator's offload. The kernel is codegen/cuda's
// gradient_to_bf16_pairs, compiled through NVRTC and the cubin cache once.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <memory>

namespace horizon::runtime::cuda {

class CubinLibrary;

class GradientCast {
 public:
  /// Compiles and loads the kernel for the current device. Throws CompileError or CudaError.
  GradientCast();
  ~GradientCast();
  GradientCast(const GradientCast&) = delete;
  GradientCast& operator=(const GradientCast&) = delete;

  /// Casts g[0, n) (device memory) in place, enqueued on `stream`.
  void cast(float* g, int64_t n, cudaStream_t stream) const;

 private:
  std::unique_ptr<CubinLibrary> library_;
  cudaKernel_t kernel_ = nullptr;
  int64_t max_blocks_ = 1;  // enough resident blocks to fill the device
};

}  // namespace horizon::runtime::cuda
