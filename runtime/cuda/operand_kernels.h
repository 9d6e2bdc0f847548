// The executor's own two kernels, around the generated ones: narrowing an
// fp32 activation to the bf16 operand a cuBLASLt GEMM reads, and adding a
// freshly computed gradient into an accumulator (backward launches with
// `accumulate`). They are shape-generic (the element count is an argument),
// so one NVRTC compilation serves every GEMM and gradient of a stage.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <string>

#include "codegen/cuda/kernel_source.h"
#include "codegen/cuda/nvrtc_compiler.h"

namespace horizon::runtime::cuda {

class CubinLibrary;

class OperandKernels {
 public:
  /// Compiles (through the cubin cache) and loads the kernels.
  explicit OperandKernels(codegen::cuda::NvrtcCompiler& compiler);
  ~OperandKernels();

  /// y[i] = bf16(x[i]), rounded to nearest even, for i < n. x must be 16-byte
  /// and y 4-byte aligned. `what` names the GEMM operand in errors.
  void to_bf16(const float* x, void* y, int64_t n, cudaStream_t stream, const std::string& what) const;
  /// acc[i] += x[i] for i < n; both 16-byte aligned.
  void accumulate(float* acc, const float* x, int64_t n, cudaStream_t stream, const std::string& what) const;

  /// The CUDA source of both kernels.
  static codegen::cuda::KernelSource source();

 private:
  /// Launches `k(first, second, n)`.
  void launch(cudaKernel_t k, const char* entry, const void* first, const void* second, int64_t n, cudaStream_t stream,
              const std::string& what) const;

  std::unique_ptr<CubinLibrary> library_;
  cudaKernel_t to_bf16_ = nullptr, accumulate_ = nullptr;
};

}  // namespace horizon::runtime::cuda
