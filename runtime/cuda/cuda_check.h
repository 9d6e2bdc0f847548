// Error checks for the CUDA runtime and cuBLASLt calls of the CUDA backend.
// A failure throws CudaError whose message names the call that failed, what
// it was doing (the stage, the kernel or GEMM and its shape) and the error
// the library reported, so a failed launch in a 70-layer step says which
// kernel of which stage broke, not just "invalid argument".
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace horizon::runtime::cuda {

/// A CUDA runtime or cuBLASLt call failed.
class CudaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Throws CudaError "CALL failed for WHAT: cudaErrorX (description)" unless
/// `e` is cudaSuccess. `what` names the kernel or GEMM and its shape.
void check_cuda(cudaError_t e, const char* call, const std::string& what);

/// The same for cuBLASLt status codes.
void check_cublas(cublasStatus_t s, const char* call, const std::string& what);

/// "sm_90": the real architecture of the current device, for NVRTC.
std::string current_device_arch();

/// Blocks of `threads_per_block` the current device holds at once: the grid
/// of a grid-stride loop (more blocks would only queue behind these).
int64_t resident_grid_blocks(int64_t threads_per_block, const std::string& who);

}  // namespace horizon::runtime::cuda
