#include "runtime/cuda/operand_kernels.h"

#include <algorithm>

#include "runtime/cuda/cubin_library.h"
#include "runtime/cuda/cuda_check.h"

namespace horizon::runtime::cuda {
namespace {

// Four elements per thread through 16-byte loads; the last partial group of
// four falls back to scalars. Grid-stride, so any n fits one bounded grid.
constexpr const char* kCode = R"(
extern "C" __global__ void f32_to_bf16(const float* __restrict__ x, __nv_bfloat16* __restrict__ y, long long n) {
  const long long stride = 4LL * gridDim.x * blockDim.x;
  for (long long i = 4LL * (static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x); i < n; i += stride) {
    if (i + 4 <= n) {
      const float4 v = *reinterpret_cast<const float4*>(x + i);
      *reinterpret_cast<__nv_bfloat162*>(y + i) = __floats2bfloat162_rn(v.x, v.y);
      *reinterpret_cast<__nv_bfloat162*>(y + i + 2) = __floats2bfloat162_rn(v.z, v.w);
    } else {
      for (long long j = i; j < n; ++j) y[j] = __float2bfloat16_rn(x[j]);
    }
  }
}

extern "C" __global__ void f32_accumulate(float* __restrict__ acc, const float* __restrict__ x, long long n) {
  const long long stride = 4LL * gridDim.x * blockDim.x;
  for (long long i = 4LL * (static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x); i < n; i += stride) {
    if (i + 4 <= n) {
      float4 a = *reinterpret_cast<const float4*>(acc + i);
      const float4 v = *reinterpret_cast<const float4*>(x + i);
      a.x += v.x;
      a.y += v.y;
      a.z += v.z;
      a.w += v.w;
      *reinterpret_cast<float4*>(acc + i) = a;
    } else {
      for (long long j = i; j < n; ++j) acc[j] += x[j];
    }
  }
}
)";

constexpr int64_t kThreads = 256;
constexpr int64_t kMaxBlocks = 4096;  // enough to fill any current GPU; the loop strides past it

}  // namespace

codegen::cuda::KernelSource OperandKernels::source() {
  return codegen::cuda::SourceBuilder("stage_operand_kernels").text(kCode).finish();
}

OperandKernels::OperandKernels(codegen::cuda::NvrtcCompiler& compiler) {
  const codegen::cuda::KernelSource src = source();
  library_ = std::make_unique<CubinLibrary>(compiler.compile(src).image, src.describe());
  to_bf16_ = library_->kernel("f32_to_bf16");
  accumulate_ = library_->kernel("f32_accumulate");
}

OperandKernels::~OperandKernels() = default;

void OperandKernels::launch(cudaKernel_t k, const char* entry, const void* first, const void* second, int64_t n,
                            cudaStream_t stream, const std::string& what) const {
  if (n <= 0) return;
  long long count = n;
  void* args[] = {&first, &second, &count};
  const auto blocks = static_cast<unsigned>(std::min<int64_t>(kMaxBlocks, (n + 4 * kThreads - 1) / (4 * kThreads)));
  const cudaError_t e =
      cudaLaunchKernel(reinterpret_cast<const void*>(k), dim3(blocks), dim3(kThreads), args, 0, stream);
  if (e != cudaSuccess)
    check_cuda(e, "cudaLaunchKernel", std::string(entry) + " (n=" + std::to_string(n) + ") for " + what);
}

void OperandKernels::to_bf16(const float* x, void* y, int64_t n, cudaStream_t stream, const std::string& what) const {
  launch(to_bf16_, "f32_to_bf16", x, y, n, stream, what);
}

void OperandKernels::accumulate(float* acc, const float* x, int64_t n, cudaStream_t stream,
                                const std::string& what) const {
  launch(accumulate_, "f32_accumulate", acc, x, n, stream, what);
}

}  // namespace horizon::runtime::cuda
