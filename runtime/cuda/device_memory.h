// One device allocation owned by an object of the CUDA backend (an
// executor's scratch, a GEMM workspace): allocated once when the owner is
// built, freed with it, never resized, so nothing allocates while a step runs.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <utility>

#include "runtime/cuda/cuda_check.h"

namespace horizon::runtime::cuda {

class DeviceMemory {
 public:
  DeviceMemory() = default;
  /// cudaMalloc of `bytes` (none for 0); `what` names the owner in errors.
  DeviceMemory(int64_t bytes, const std::string& what) : bytes_(bytes) {
    if (bytes > 0)
      check_cuda(cudaMalloc(&ptr_, static_cast<size_t>(bytes)), "cudaMalloc",
                 what + " (" + std::to_string(bytes) + " bytes)");
  }
  ~DeviceMemory() {
    if (ptr_) cudaFree(ptr_);  // errors here cannot be reported; the context may already be gone
  }
  DeviceMemory(DeviceMemory&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  DeviceMemory& operator=(DeviceMemory&& o) noexcept {
    std::swap(ptr_, o.ptr_);
    std::swap(bytes_, o.bytes_);
    return *this;
  }
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;

  void* get() const { return ptr_; }
  /// The byte at `offset` (cudaMalloc aligns the base to 256 bytes).
  char* at(int64_t offset) const { return static_cast<char*>(ptr_) + offset; }
  int64_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  int64_t bytes_ = 0;
};

}  // namespace horizon::runtime::cuda
