// The optimizer for layers whose optimizer state lives in device memory
// instead of the host store: the CPU's AdamW step (codegen/cpu/cpu_jit.h
// AdamWFn) and the per-tensor sums of squares the gradient norm is made of,
// as kernels enqueued on a stream (codegen/cuda/optimizer_kernels.cpp). The
// planes are laid out as runtime/host_store.h describes; the update gives the
// JIT's bits on hosts whose JIT fuses multiply-adds (AVX2, AVX-512), so a
// layer may move between the two.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "codegen/cpu/cpu_jit.h"
#include "runtime/cuda/device_memory.h"

namespace horizon::runtime::cuda {

class CubinLibrary;

class DeviceOptimizer {
 public:
  /// Compiles (through the cubin cache) and loads both kernels for the
  /// current device; allocates the partial-sum scratch for up to `max_spans`
  /// spans per call (nothing is allocated later). Throws std::invalid_argument
  /// for max_spans outside [1, 255], CompileError or CudaError.
  DeviceOptimizer(codegen::cpu::MomentType moments, int max_spans);
  ~DeviceOptimizer();
  DeviceOptimizer(const DeviceOptimizer&) = delete;
  DeviceOptimizer& operator=(const DeviceOptimizer&) = delete;

  /// AdamW over n parameters in device memory, enqueued on `stream`. m and v
  /// hold bf16 bits or floats by the moment type. Any alignment works;
  /// pointers that share their phase (sub-ranges of one region) run
  /// vectorized after at most 3 scalar elements. With 8-bit moments m and v
  /// hold codes and m_scale, v_scale (device memory) the per-block scales,
  /// as cpu_jit.h's BlockwiseAdamWFn takes them; otherwise they are unused.
  void adamw(int64_t n, uint16_t* w_hi, uint16_t* w_lo, void* m, void* v, const float* grad,
             const codegen::cpu::AdamWParams& p, cudaStream_t stream, float* m_scale = nullptr,
             float* v_scale = nullptr) const;

  /// out[k] (device memory, doubles) = the sum of squares of
  /// grad[spans[k].first, + spans[k].second), enqueued on `stream`; the same
  /// values give the same bits. Throws std::invalid_argument for more than
  /// max_spans spans or a negative offset or length.
  void sum_squares(const float* grad, const std::vector<std::pair<int64_t, int64_t>>& spans, double* out,
                   cudaStream_t stream) const;

  /// Device memory this object holds (the partial sums).
  int64_t scratch_bytes() const { return partial_.bytes(); }

 private:
  codegen::cpu::MomentType moments_;
  int max_spans_;
  std::unique_ptr<CubinLibrary> adamw_library_, sum_library_;
  cudaKernel_t adamw_ = nullptr, partial_sums_ = nullptr, total_ = nullptr;
  int64_t adamw_max_blocks_ = 0;  // enough resident blocks to fill the device
  DeviceMemory partial_;
};

}  // namespace horizon::runtime::cuda
