// Softmax cross entropy over given logits, the mean over rows whose target
// is >= 0, as runtime/cpu/loss_kernels.cpp: sums of exponentials and the
// mean in double (V reaches 150k). One block per row reads the row once
// with an online max/sum; per-row losses then one ordered block sum give the
// mean, so the bits do not depend on scheduling. The lm head fused with the
// loss, where no [N, V] logits exist, runs the same row code over chunks
// (loss_chunk_kernels.cpp).
#include <stdexcept>

#include "codegen/cuda/kernels.h"
#include "codegen/cuda/loss_source.h"

namespace horizon::codegen::cuda {
namespace {

constexpr const char* kRowStats = R"CUDA(
// max of the row and the sum of exp(x - max), every thread gets both.
struct RowStats {
  float max;
  double sum;
};

__device__ RowStats row_stats(const float* row, float* fscratch, double* dscratch) {
  float m = -HZ_INFINITY;
  double s = 0.0;
  for (int c = threadIdx.x * VEC; c < V; c += THREADS * VEC) {
    const Vec<VEC> x = load_vec<VEC>(row + c);
    float vm = x.v[0];
#pragma unroll
    for (int e = 1; e < VEC; ++e) vm = fmaxf(vm, x.v[e]);
    if (vm > m) {  // rescale the running sum to the new max
      s *= (double)expf(m - vm);
      m = vm;
    }
#pragma unroll
    for (int e = 0; e < VEC; ++e) s += (double)expf(x.v[e] - m);
  }
  const float row_max = block_max<THREADS>(m, fscratch);
  s = m == -HZ_INFINITY ? 0.0 : s * (double)expf(m - row_max);
  return RowStats{row_max, block_sum<THREADS>(s, dscratch)};
}

__device__ int count_targets(const int* targets, int* scratch) {
  int count = 0;
  for (int n = threadIdx.x; n < N; n += THREADS) count += targets[n] >= 0;
  return block_sum<THREADS>(count, scratch);
}
)CUDA";

constexpr const char* kForward = R"CUDA(
extern "C" __global__ void __launch_bounds__(THREADS)
cross_entropy_rows(double* __restrict__ row_loss, const float* __restrict__ logits, const int* __restrict__ targets) {
  __shared__ float fscratch[32];
  __shared__ double dscratch[32];
  const long long n = blockIdx.x;
  const int target = targets[n];
  if (target < 0) {  // uniform over the block
    if (threadIdx.x == 0) row_loss[n] = 0.0;
    return;
  }
  const float* row = logits + n * V;
  const RowStats st = row_stats(row, fscratch, dscratch);
  if (threadIdx.x == 0) row_loss[n] = (double)st.max + log(st.sum) - (double)row[target];
}

extern "C" __global__ void __launch_bounds__(THREADS)
cross_entropy_mean(float* __restrict__ loss, const double* __restrict__ row_loss, const int* __restrict__ targets) {
  __shared__ double dscratch[32];
  __shared__ int iscratch[32];
  double s = 0.0;
  for (int n = threadIdx.x; n < N; n += THREADS) s += row_loss[n];  // masked rows hold 0
  s = block_sum<THREADS>(s, dscratch);
  const int count = count_targets(targets, iscratch);
  if (threadIdx.x == 0) loss[0] = count == 0 ? 0.0f : (float)(s / (double)count);
}
)CUDA";

constexpr const char* kBackward = R"CUDA(
extern "C" __global__ void __launch_bounds__(THREADS)
cross_entropy_count(int* __restrict__ count, const int* __restrict__ targets) {
  __shared__ int iscratch[32];
  const int c = count_targets(targets, iscratch);
  if (threadIdx.x == 0) count[0] = c;
}

// d(mean loss)/d logit = (softmax - onehot(target)) / count; masked rows get zeros.
extern "C" __global__ void __launch_bounds__(THREADS)
cross_entropy_backward(float* __restrict__ dlogits, const float* __restrict__ logits, const int* __restrict__ targets,
                       const int* __restrict__ count) {
  __shared__ float fscratch[32];
  __shared__ double dscratch[32];
  const long long n = blockIdx.x;
  const int target = targets[n];
  float* d = dlogits + n * V;
  if (target < 0) {
    Vec<VEC> zero;
#pragma unroll
    for (int e = 0; e < VEC; ++e) zero.v[e] = 0.0f;
    for (int c = threadIdx.x * VEC; c < V; c += THREADS * VEC) store_vec<VEC>(d + c, zero);
    return;
  }
  const float* row = logits + n * V;
  const RowStats st = row_stats(row, fscratch, dscratch);
  const double scale = 1.0 / (st.sum * (double)count[0]);
  const float onehot = (float)(1.0 / (double)count[0]);
  for (int c = threadIdx.x * VEC; c < V; c += THREADS * VEC) {
    const Vec<VEC> x = load_vec<VEC>(row + c);
    Vec<VEC> o;
#pragma unroll
    for (int e = 0; e < VEC; ++e) {
      o.v[e] = (float)((double)expf(x.v[e] - st.max) * scale);
      if (c + e == target) o.v[e] -= onehot;
    }
    store_vec<VEC>(d + c, o);
  }
}
)CUDA";

using K = Arg::Kind;
constexpr Dim3 kBlock{kLossThreads, 1, 1};

}  // namespace

SourceBuilder loss_source(const char* name, int64_t N, int64_t V) {
  if (N < 1 || V < 1)
    throw std::invalid_argument(std::string("CUDA codegen: ") + name +
                                ": needs N >= 1 and V >= 1, got N=" + std::to_string(N) + " V=" + std::to_string(V));
  SourceBuilder b(name);
  b.constant("N", N).constant("V", V).constant("VEC", V % 4 == 0 ? 4 : 1).constant("THREADS", kLossThreads);
  b.text(kRowStats);
  return b;
}

KernelSource cross_entropy_forward(int64_t N, int64_t V) {
  KernelSource k = loss_source("cross_entropy_forward", N, V).text(kForward).finish();
  k.inputs = {{"logits", ir::DType::f32, N * V}, {"targets", ir::DType::i32, N}};
  k.outputs = {{"loss", ir::DType::f32, 1}};
  k.workspaces = {{"row_loss", N * 8}};
  k.launches = {{"cross_entropy_rows",
                 {static_cast<uint32_t>(N), 1, 1},
                 kBlock,
                 0,
                 {{K::workspace, 0}, {K::input, 0}, {K::input, 1}}},
                {"cross_entropy_mean", {1, 1, 1}, kBlock, 0, {{K::output, 0}, {K::workspace, 0}, {K::input, 1}}}};
  return k;
}

KernelSource cross_entropy_backward(int64_t N, int64_t V) {
  KernelSource k = loss_source("cross_entropy_backward", N, V).text(kBackward).finish();
  k.inputs = {{"logits", ir::DType::f32, N * V}, {"targets", ir::DType::i32, N}};
  k.outputs = {{"dlogits", ir::DType::f32, N * V}};
  k.workspaces = {{"count", 4}};
  k.launches = {{"cross_entropy_count", {1, 1, 1}, kBlock, 0, {{K::workspace, 0}, {K::input, 1}}},
                {"cross_entropy_backward",
                 {static_cast<uint32_t>(N), 1, 1},
                 kBlock,
                 0,
                 {{K::output, 0}, {K::input, 0}, {K::input, 1}, {K::workspace, 0}}}};
  return k;
}

}  // namespace horizon::codegen::cuda
