#include "runtime/cuda/gradient_cast.h"

#include <algorithm>
#include <string>

#include "codegen/cuda/kernels.h"
#include "codegen/cuda/nvrtc_compiler.h"
#include "runtime/cuda/cubin_library.h"
#include "runtime/cuda/cuda_check.h"

namespace horizon::runtime::cuda {

GradientCast::GradientCast() {
  const codegen::cuda::KernelSource src = codegen::cuda::gradient_to_bf16_pairs();
  codegen::cuda::NvrtcCompiler compiler({current_device_arch(), "", true});
  library_ = std::make_unique<CubinLibrary>(compiler.compile(src).image, src.describe());
  kernel_ = library_->kernel("gradient_to_bf16_pairs");
  int device = 0, sms = 0, threads_per_sm = 0;
  check_cuda(cudaGetDevice(&device), "cudaGetDevice", "GradientCast");
  check_cuda(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute",
             "the multiprocessor count of device " + std::to_string(device));
  check_cuda(cudaDeviceGetAttribute(&threads_per_sm, cudaDevAttrMaxThreadsPerMultiProcessor, device),
             "cudaDeviceGetAttribute", "the threads per multiprocessor of device " + std::to_string(device));
  max_blocks_ = std::max<int64_t>(1, int64_t{sms} * (threads_per_sm / codegen::cuda::kGradientCastThreads));
}

GradientCast::~GradientCast() = default;

void GradientCast::cast(float* g, int64_t n, cudaStream_t stream) const {
  if (n <= 0) return;
  constexpr int64_t kThreads = codegen::cuda::kGradientCastThreads;
  long long count = n;
  void* args[] = {&count, &g};
  const int64_t pairs = (n + 1) / 2;
  const auto grid = static_cast<unsigned>(std::min(max_blocks_, (pairs + kThreads - 1) / kThreads));
  const cudaError_t e =
      cudaLaunchKernel(reinterpret_cast<const void*>(kernel_), dim3(grid), dim3(kThreads), args, 0, stream);
  if (e != cudaSuccess) check_cuda(e, "cudaLaunchKernel", "gradient_to_bf16_pairs (n=" + std::to_string(n) + ")");
}

}  // namespace horizon::runtime::cuda
