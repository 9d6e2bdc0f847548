// The cast of `--grad-offload bf16` (docs/bf16-gradient-offload.md): a
// gradient accumulator's n fp32 values into bf16, in place, in the pair
// layout of support/bf16_gradient.h (word k holds element k low and
// element k + h high, h = ceil(n / 2)). Each thread reads the two elements
// of its pair and writes the word of the first, which no other thread
// reads, so the grid casts in place without a race. Rounding is to nearest
// even with NaN kept quiet, support/bf16.h's float_to_bf16 (the emulated
// executor's pack_bf16_pairs), so both executors offload the same bits.
#include "codegen/cuda/kernels.h"

namespace horizon::codegen::cuda {
namespace {

constexpr const char* kGradientCast = R"CUDA(
// support/bf16.h float_to_bf16: round to nearest even; NaN keeps its sign
// and upper payload and sets the quiet bit instead of rounding into infinity.
__device__ __forceinline__ unsigned f32_to_bf16_rne(float x) {
  const unsigned bits = __float_as_uint(x), upper = bits >> 16;
  return isnan(x) ? upper | 0x40u : (bits + 0x7fffu + (upper & 1u)) >> 16;
}

extern "C" __global__ void __launch_bounds__(THREADS) gradient_to_bf16_pairs(long long n, float* g) {
  const long long h = (n + 1) / 2;
  unsigned* words = reinterpret_cast<unsigned*>(g);
  for (long long k = (long long)blockIdx.x * THREADS + threadIdx.x; k < h; k += (long long)gridDim.x * THREADS) {
    const unsigned low = f32_to_bf16_rne(g[k]);
    const unsigned high = k + h < n ? f32_to_bf16_rne(g[k + h]) : 0u;
    words[k] = low | high << 16;
  }
}
)CUDA";

}  // namespace

KernelSource gradient_to_bf16_pairs() {
  SourceBuilder b("gradient_to_bf16_pairs");
  b.constant("THREADS", kGradientCastThreads).text(kGradientCast);
  return b.finish();
}

}  // namespace horizon::codegen::cuda
