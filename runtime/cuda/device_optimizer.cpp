#include "runtime/cuda/device_optimizer.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "codegen/cuda/kernels.h"
#include "codegen/cuda/nvrtc_compiler.h"
#include "runtime/cuda/cubin_library.h"
#include "runtime/cuda/cuda_check.h"

namespace horizon::runtime::cuda {
namespace {

// The kernel reads AdamWParams by value as its own struct of eight floats.
static_assert(sizeof(codegen::cpu::AdamWParams) == 8 * sizeof(float));

const char* moments_name(codegen::cpu::MomentType m) { return codegen::cpu::moment_type_name(m); }

}  // namespace

DeviceOptimizer::DeviceOptimizer(codegen::cpu::MomentType moments, int max_spans)
    : moments_(moments), max_spans_(max_spans) {
  // Generate first: a bad max_spans is an argument error, before any GPU call.
  const codegen::cuda::KernelSource adamw_src = codegen::cuda::adamw_update(moments);
  const codegen::cuda::KernelSource sum_src = codegen::cuda::sum_squares(max_spans);
  codegen::cuda::NvrtcCompiler compiler({current_device_arch(), "", true});
  adamw_library_ = std::make_unique<CubinLibrary>(compiler.compile(adamw_src).image, adamw_src.describe());
  sum_library_ = std::make_unique<CubinLibrary>(compiler.compile(sum_src).image, sum_src.describe());
  adamw_ = adamw_library_->kernel(moments == codegen::cpu::MomentType::q8 ? "adamw_update_blockwise" : "adamw_update");
  partial_sums_ = sum_library_->kernel("sum_squares_partial");
  total_ = sum_library_->kernel("sum_squares_total");

  // A grid of as many blocks as the device holds at once: the grid-stride
  // loop covers any n, and more blocks would only queue behind these.
  adamw_max_blocks_ = resident_grid_blocks(codegen::cuda::kAdamwThreads, "DeviceOptimizer");
  partial_ = DeviceMemory(sum_src.workspaces.at(0).bytes, "DeviceOptimizer partial sums of " + sum_src.describe());
}

DeviceOptimizer::~DeviceOptimizer() = default;

void DeviceOptimizer::adamw(int64_t n, uint16_t* w_hi, uint16_t* w_lo, void* m, void* v, const float* grad,
                            const codegen::cpu::AdamWParams& p, cudaStream_t stream, float* m_scale,
                            float* v_scale) const {
  // A scale of 0 marks a skipped step (runtime/trainer.h skips_update): the
  // planes stay untouched, as the CPU optimizer leaves them.
  if (n <= 0 || p.grad_scale == 0.0f) return;
  if (moments_ == codegen::cpu::MomentType::q8) {
    if (!m_scale || !v_scale)
      throw std::invalid_argument("DeviceOptimizer::adamw: 8-bit moments need their block scales (m_scale, v_scale)");
    constexpr int64_t kThreads = codegen::cuda::kAdamwBlockwiseThreads;
    long long count = n;
    codegen::cpu::AdamWParams params = p;
    void* args[] = {&count, &w_hi, &w_lo, &m, &v, &m_scale, &v_scale, &grad, &params};
    const int64_t blocks = (n + kThreads - 1) / kThreads;
    const auto grid = static_cast<unsigned>(std::min(adamw_max_blocks_, blocks));
    const cudaError_t e =
        cudaLaunchKernel(reinterpret_cast<const void*>(adamw_), dim3(grid), dim3(kThreads), args, 0, stream);
    if (e != cudaSuccess) check_cuda(e, "cudaLaunchKernel", "adamw_update_blockwise (n=" + std::to_string(n) + ")");
    return;
  }
  constexpr int64_t kThreads = codegen::cuda::kAdamwThreads;
  long long count = n;
  codegen::cpu::AdamWParams params = p;
  void* args[] = {&count, &w_hi, &w_lo, &m, &v, &grad, &params};
  const auto blocks = static_cast<unsigned>(std::min(adamw_max_blocks_, (n + 4 * kThreads - 1) / (4 * kThreads)));
  const cudaError_t e =
      cudaLaunchKernel(reinterpret_cast<const void*>(adamw_), dim3(blocks), dim3(kThreads), args, 0, stream);
  if (e != cudaSuccess)
    check_cuda(e, "cudaLaunchKernel",
               std::string("adamw_update (n=") + std::to_string(n) + " moments=" + moments_name(moments_) + ")");
}

void DeviceOptimizer::sum_squares(const float* grad, const std::vector<std::pair<int64_t, int64_t>>& spans, double* out,
                                  cudaStream_t stream) const {
  if (spans.empty()) return;
  int64_t elements = 0;
  for (const auto& [offset, length] : spans) {
    if (offset < 0 || length < 0)
      throw std::invalid_argument("DeviceOptimizer::sum_squares: span (" + std::to_string(offset) + ", " +
                                  std::to_string(length) + ") has a negative offset or length");
    elements += length;
  }
  const int k = static_cast<int>(spans.size());
  const std::string what = " (" + std::to_string(k) + " spans, " + std::to_string(elements) +
                           " elements, max_spans=" + std::to_string(max_spans_) + ")";
  if (spans.size() > static_cast<size_t>(max_spans_))
    throw std::invalid_argument("DeviceOptimizer::sum_squares: too many spans" + what +
                                "; build the DeviceOptimizer with a larger max_spans");

  // The kernel's Spans by value: max_spans offsets, then max_spans lengths.
  std::vector<long long> packed(2 * static_cast<size_t>(max_spans_), 0);
  for (int i = 0; i < k; ++i) packed[i] = spans[i].first, packed[max_spans_ + i] = spans[i].second;
  void* partial = partial_.get();
  void* partial_args[] = {&partial, &grad, packed.data()};
  const dim3 block(codegen::cuda::kSumSquaresThreads);
  cudaError_t e = cudaLaunchKernel(reinterpret_cast<const void*>(partial_sums_),
                                   dim3(codegen::cuda::kSumSquaresBlocks, k), block, partial_args, 0, stream);
  if (e != cudaSuccess) check_cuda(e, "cudaLaunchKernel", "sum_squares_partial" + what);
  void* total_args[] = {&out, &partial};
  e = cudaLaunchKernel(reinterpret_cast<const void*>(total_), dim3(k), block, total_args, 0, stream);
  if (e != cudaSuccess) check_cuda(e, "cudaLaunchKernel", "sum_squares_total" + what);
}

}  // namespace horizon::runtime::cuda
