// A cubin loaded through the CUDA runtime's library API (cudaLibraryLoadData),
// which keeps libcuda out of the link: the runtime resolves the driver when a
// GPU is first used. Kernels are looked up by their extern "C" names once,
// when an executor is built, and launched with cudaLaunchKernel.
#pragma once

#include <cuda_runtime.h>

#include <string>
#include <vector>

namespace horizon::runtime::cuda {

class CubinLibrary {
 public:
  /// Loads `cubin`; `what` names the kernel source in errors.
  CubinLibrary(const std::vector<char>& cubin, std::string what);
  ~CubinLibrary();
  CubinLibrary(const CubinLibrary&) = delete;
  CubinLibrary& operator=(const CubinLibrary&) = delete;

  /// The kernel `entry`; throws CudaError naming the source when it is missing.
  cudaKernel_t kernel(const std::string& entry) const;

 private:
  cudaLibrary_t library_ = nullptr;
  std::string what_;
};

}  // namespace horizon::runtime::cuda
