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
  max_blocks_ = resident_grid_blocks(codegen::cuda::kGradientCastThreads, "GradientCast");
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
