// The three linear ops of the IR as cuBLASLt GEMMs: bf16 operands, fp32
// accumulation (CUBLAS_COMPUTE_32F) and an fp32 result, in Hugging Face
// layout (a linear weight is [out, in]) and row-major activations. cuBLASLt
// is column-major; each form maps to one column-major product of the same
// bytes (see gemm.cpp). The algorithm of each shape comes from
// cublasLtMatmulAlgoGetHeuristic once and is cached; the workspace is one
// device allocation made at construction.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <compare>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "runtime/cuda/device_memory.h"

namespace horizon::runtime::cuda {

enum class GemmForm {
  linear,         // y[N,O]  = x[N,I] · w[O,I]^T
  linear_grad_x,  // dx[N,I] = dy[N,O] · w[O,I]
  linear_grad_w,  // dw[O,I] = dy[N,O]^T · x[N,I]
};
const char* gemm_form_name(GemmForm f);

/// One linear op: N rows (tokens), I input and O output features.
struct GemmShape {
  GemmForm form = GemmForm::linear;
  int64_t rows = 0, in = 0, out = 0;
  /// "linear_grad_w N=66 I=128 O=344".
  std::string describe() const;
  auto operator<=>(const GemmShape&) const = default;
};

class CublasLtGemm {
 public:
  /// What Hopper's fastest kernels ask for.
  static constexpr int64_t kDefaultWorkspaceBytes = int64_t{32} << 20;

  explicit CublasLtGemm(int64_t workspace_bytes = kDefaultWorkspaceBytes);
  ~CublasLtGemm();
  CublasLtGemm(const CublasLtGemm&) = delete;
  CublasLtGemm& operator=(const CublasLtGemm&) = delete;

  /// Chooses and caches the algorithm of `shape`. Host work only; an
  /// executor prepares its shapes when it is built so launches stay cheap.
  void prepare(const GemmShape& shape);

  /// Enqueues the op of `shape` on `stream`. `a` and `b` are the bf16
  /// operands in IR order (linear: x, w; linear_grad_x: dy, w; linear_grad_w:
  /// dy, x); `out` is fp32, overwritten, or added to when `accumulate`
  /// (beta = 1). Every pointer must be 16-byte aligned. `what` names the op
  /// in errors. Prepares `shape` first if needed.
  void run(const GemmShape& shape, const void* a, const void* b, float* out, bool accumulate, cudaStream_t stream,
           const std::string& what);

  int64_t workspace_bytes() const { return workspace_.bytes(); }

 private:
  struct Plan;
  const Plan& plan(const GemmShape& shape);

  cublasLtHandle_t handle_ = nullptr;
  DeviceMemory workspace_;
  std::map<GemmShape, std::unique_ptr<Plan>> plans_;
};

}  // namespace horizon::runtime::cuda
