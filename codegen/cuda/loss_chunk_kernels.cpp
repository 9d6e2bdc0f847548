// The loss half of the lm head fused with cross entropy
// (linear_cross_entropy[_grad]). The executor computes the logits one chunk
// of rows at a time with a cuBLASLt GEMM; these kernels turn a chunk into
// its per-row losses and, for the gradient, its bf16 d_logits (the operand of
// the dh and dw GEMMs that follow), so no [N, V] buffer ever exists. The
// d_logits are scaled by 1 / (targets >= 0 over all N rows), counted once
// before the first chunk; the mean sums the row losses of all N rows in the
// order cross_entropy_mean does, so the loss does not depend on the chunk.
#include "codegen/cuda/kernels.h"
#include "codegen/cuda/loss_source.h"

namespace horizon::codegen::cuda {
namespace {

constexpr const char* kStart = R"CUDA(
// Once, before the first chunk: every row's loss 0 (a chunk overwrites its
// own rows) and the count of targets >= 0 over all N rows.
extern "C" __global__ void __launch_bounds__(THREADS)
loss_chunk_start(double* __restrict__ row_loss, int* __restrict__ count, const int* __restrict__ targets) {
  __shared__ int iscratch[32];
  for (int n = threadIdx.x; n < N; n += THREADS) row_loss[n] = 0.0;
  const int c = count_targets(targets, iscratch);
  if (threadIdx.x == 0) count[0] = c;
}
)CUDA";

// One block per row of the chunk; row_loss and targets point at the chunk's
// first row, logits (and dlogits) at the chunk's buffers.
constexpr const char* kRowsForward = R"CUDA(
extern "C" __global__ void __launch_bounds__(THREADS)
loss_chunk_rows(double* __restrict__ row_loss, const float* __restrict__ logits, const int* __restrict__ targets) {
  __shared__ float fscratch[32];
  __shared__ double dscratch[32];
  const long long n = blockIdx.x;
  const int target = targets[n];
  if (target < 0) return;  // its loss stays the 0 of loss_chunk_start
  const float* row = logits + n * V;
  const RowStats st = row_stats(row, fscratch, dscratch);
  if (threadIdx.x == 0) row_loss[n] = (double)st.max + log(st.sum) - (double)row[target];
}
)CUDA";

constexpr const char* kRowsBackward = R"CUDA(
// Two floats as the bf16 pair of one 32-bit word, rounded to nearest even.
__device__ __forceinline__ unsigned bf16x2(float lo, float hi) {
  const __nv_bfloat162 p = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const unsigned*>(&p);
}

// VEC gradients of one row into bf16 (one 8-byte store when VEC = 4).
__device__ __forceinline__ void store_bf16(__nv_bfloat16* p, const Vec<VEC>& g) {
  if constexpr (VEC == 4) {
    *reinterpret_cast<uint2*>(p) = make_uint2(bf16x2(g.v[0], g.v[1]), bf16x2(g.v[2], g.v[3]));
  } else {
#pragma unroll
    for (int e = 0; e < VEC; ++e) p[e] = __float2bfloat16_rn(g.v[e]);
  }
}

// d(mean loss)/d logit = (softmax - onehot(target)) / count; masked rows get zeros.
extern "C" __global__ void __launch_bounds__(THREADS)
loss_chunk_rows(double* __restrict__ row_loss, __nv_bfloat16* __restrict__ dlogits, const float* __restrict__ logits,
                const int* __restrict__ targets, const int* __restrict__ count) {
  __shared__ float fscratch[32];
  __shared__ double dscratch[32];
  const long long n = blockIdx.x;
  const int target = targets[n];
  __nv_bfloat16* d = dlogits + n * V;
  if (target < 0) {  // uniform over the block; its loss stays 0
    Vec<VEC> zero;
#pragma unroll
    for (int e = 0; e < VEC; ++e) zero.v[e] = 0.0f;
    for (int c = threadIdx.x * VEC; c < V; c += THREADS * VEC) store_bf16(d + c, zero);
    return;
  }
  const float* row = logits + n * V;
  const RowStats st = row_stats(row, fscratch, dscratch);
  if (threadIdx.x == 0) row_loss[n] = (double)st.max + log(st.sum) - (double)row[target];
  const double scale = 1.0 / (st.sum * (double)count[0]);
  const float onehot = (float)(1.0 / (double)count[0]);
  for (int c = threadIdx.x * VEC; c < V; c += THREADS * VEC) {
    const Vec<VEC> x = load_vec<VEC>(row + c);
    Vec<VEC> g;
#pragma unroll
    for (int e = 0; e < VEC; ++e) {
      g.v[e] = (float)((double)expf(x.v[e] - st.max) * scale);
      if (c + e == target) g.v[e] -= onehot;
    }
    store_bf16(d + c, g);
  }
}
)CUDA";

constexpr const char* kMean = R"CUDA(
// Once, after the last chunk: the row losses in the order of cross_entropy_mean.
extern "C" __global__ void __launch_bounds__(THREADS)
loss_chunk_mean(float* __restrict__ loss, const double* __restrict__ row_loss, const int* __restrict__ count) {
  __shared__ double dscratch[32];
  double s = 0.0;
  for (int n = threadIdx.x; n < N; n += THREADS) s += row_loss[n];  // masked rows hold 0
  s = block_sum<THREADS>(s, dscratch);
  if (threadIdx.x == 0) loss[0] = count[0] == 0 ? 0.0f : (float)(s / (double)count[0]);
}
)CUDA";

using K = Arg::Kind;

KernelSource loss_chunks(const char* name, int64_t N, int64_t V, int64_t rows, bool backward) {
  if (rows < 1 || rows > N)
    throw std::invalid_argument(std::string("CUDA codegen: ") + name + ": chunk rows must lie in [1, N=" +
                                std::to_string(N) + "], got " + std::to_string(rows));
  SourceBuilder b = loss_source(name, N, V);
  b.note("rows", std::to_string(rows)).text(kStart).text(backward ? kRowsBackward : kRowsForward).text(kMean);
  KernelSource k = b.finish();
  k.inputs = {{"logits", ir::DType::f32, rows * V}, {"targets", ir::DType::i32, N}};
  k.outputs = {{"loss", ir::DType::f32, 1}};
  if (backward) k.outputs.push_back({"dlogits", ir::DType::bf16, rows * V});
  k.workspaces = {{"row_loss", N * 8}, {"count", 4}};
  const Dim3 block{kLossThreads, 1, 1};
  std::vector<Arg> row_args = {{K::workspace, 0}, {K::input, 0}, {K::input, 1}};
  if (backward) row_args = {{K::workspace, 0}, {K::output, 1}, {K::input, 0}, {K::input, 1}, {K::workspace, 1}};
  k.launches = {{"loss_chunk_start", {1, 1, 1}, block, 0, {{K::workspace, 0}, {K::workspace, 1}, {K::input, 1}}},
                {"loss_chunk_rows", {static_cast<uint32_t>(rows), 1, 1}, block, 0, row_args},
                {"loss_chunk_mean", {1, 1, 1}, block, 0, {{K::output, 0}, {K::workspace, 0}, {K::workspace, 1}}}};
  return k;
}

}  // namespace

KernelSource linear_cross_entropy_forward(int64_t N, int64_t V, int64_t rows) {
  return loss_chunks("linear_cross_entropy_forward", N, V, rows, false);
}

KernelSource linear_cross_entropy_backward(int64_t N, int64_t V, int64_t rows) {
  return loss_chunks("linear_cross_entropy_backward", N, V, rows, true);
}

}  // namespace horizon::codegen::cuda
