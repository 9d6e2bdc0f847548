#include "runtime/cuda/cuda_check.h"

#include <algorithm>

namespace horizon::runtime::cuda {

void check_cuda(cudaError_t e, const char* call, const std::string& what) {
  if (e == cudaSuccess) return;
  throw CudaError(std::string(call) + " failed for " + what + ": " + cudaGetErrorName(e) + " (" +
                  cudaGetErrorString(e) + ")");
}

void check_cublas(cublasStatus_t s, const char* call, const std::string& what) {
  if (s == CUBLAS_STATUS_SUCCESS) return;
  throw CudaError(std::string(call) + " failed for " + what + ": " + cublasLtGetStatusName(s) + " (" +
                  cublasLtGetStatusString(s) + ")");
}

std::string current_device_arch() {
  int device = 0;
  check_cuda(cudaGetDevice(&device), "cudaGetDevice", "choosing the NVRTC architecture");
  int major = 0, minor = 0;
  check_cuda(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device), "cudaDeviceGetAttribute",
             "the compute capability of device " + std::to_string(device));
  check_cuda(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device), "cudaDeviceGetAttribute",
             "the compute capability of device " + std::to_string(device));
  return "sm_" + std::to_string(major * 10 + minor);
}

int64_t resident_grid_blocks(int64_t threads_per_block, const std::string& who) {
  int device = 0, sms = 0, threads_per_sm = 0;
  check_cuda(cudaGetDevice(&device), "cudaGetDevice", who);
  check_cuda(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute",
             "the multiprocessor count of device " + std::to_string(device));
  check_cuda(cudaDeviceGetAttribute(&threads_per_sm, cudaDevAttrMaxThreadsPerMultiProcessor, device),
             "cudaDeviceGetAttribute", "the threads per multiprocessor of device " + std::to_string(device));
  return std::max<int64_t>(1, int64_t{sms} * (threads_per_sm / threads_per_block));
}

}  // namespace horizon::runtime::cuda
