#include "runtime/cuda/cubin_library.h"

#include "runtime/cuda/cuda_check.h"

namespace horizon::runtime::cuda {

CubinLibrary::CubinLibrary(const std::vector<char>& cubin, std::string what) : what_(std::move(what)) {
  check_cuda(cudaLibraryLoadData(&library_, cubin.data(), nullptr, nullptr, 0, nullptr, nullptr, 0),
             "cudaLibraryLoadData", what_);
}

CubinLibrary::~CubinLibrary() {
  if (library_) cudaLibraryUnload(library_);
}

cudaKernel_t CubinLibrary::kernel(const std::string& entry) const {
  cudaKernel_t k = nullptr;
  check_cuda(cudaLibraryGetKernel(&k, library_, entry.c_str()), "cudaLibraryGetKernel", what_ + ", entry " + entry);
  return k;
}

}  // namespace horizon::runtime::cuda
