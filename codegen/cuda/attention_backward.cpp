// Causal grouped-query attention, backward, flash style, with the math of
// runtime/cpu/attention_kernels.cpp. With P = softmax(scale q k^T), out = P v:
//   dv_j = sum_i P_ij dout_i,   dS_ij = P_ij (dout_i . v_j - delta_i),
//   delta_i = dout_i . out_i,   dq_i = scale sum_j dS_ij k_j,
//   dk_j = scale sum_i dS_ij q_i.
// Three launches, each block owning what it writes (no atomics, so the bits
// are fixed): the forward's online softmax rerun per query tile to get the
// log-sum-exp and delta (the graph IR saves no forward state); dq per query
// tile; dk and dv per key tile, summing the group's query heads and then the
// queries in ascending order. P is recomputed from q, k and the log-sum-exp.
#include "codegen/cuda/attention_layout.h"

namespace horizon::codegen::cuda {
namespace {

constexpr const char* kStats = R"CUDA(
// lse and delta are [B, H, S].
extern "C" __global__ void __launch_bounds__(THREADS)
attention_backward_stats(float* __restrict__ lse, float* __restrict__ delta, const float* __restrict__ dout,
                         const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v) {
  __shared__ __align__(16) float Ks[ROWS_PER_TILE * D];
  __shared__ __align__(16) float Vs[ROWS_PER_TILE * D];
  const int i0 = (TILES - 1 - blockIdx.x) * ROWS_PER_TILE;
  const int h = blockIdx.y, b = blockIdx.z;
  const int l = threadIdx.x % TPR, i = i0 + threadIdx.x / TPR;
  const long long row = (((long long)b * S + i) * H + h) * D;
  float qv[NE], acc[NE], mx, sum;
  load_slice(qv, q + row, l, i < S);
  attend(acc, mx, sum, qv, k, v, Ks, Vs, b, h / GROUP, i0, i, l);
  float dov[NE];
  load_slice(dov, dout + row, l, i < S);
  float part = 0.0f;
#pragma unroll
  for (int e = 0; e < NE; ++e) part += dov[e] * acc[e];
  const float d = group_sum<TPR>(part) / sum;  // dout . (acc / sum)
  if (i < S && l == 0) {
    lse[((long long)b * H + h) * S + i] = mx + logf(sum);
    delta[((long long)b * H + h) * S + i] = d;
  }
}
)CUDA";

constexpr const char* kDq = R"CUDA(
extern "C" __global__ void __launch_bounds__(THREADS)
attention_backward_dq(float* __restrict__ dq, const float* __restrict__ dout, const float* __restrict__ q,
                      const float* __restrict__ k, const float* __restrict__ v, const float* __restrict__ lse,
                      const float* __restrict__ delta) {
  __shared__ __align__(16) float Ks[ROWS_PER_TILE * D];
  __shared__ __align__(16) float Vs[ROWS_PER_TILE * D];
  const int i0 = (TILES - 1 - blockIdx.x) * ROWS_PER_TILE;
  const int h = blockIdx.y, b = blockIdx.z, kvh = h / GROUP;
  const int l = threadIdx.x % TPR, i = i0 + threadIdx.x / TPR;
  const long long row = (((long long)b * S + i) * H + h) * D;
  float qv[NE], dov[NE], acc[NE];
  load_slice(qv, q + row, l, i < S);
  load_slice(dov, dout + row, l, i < S);
#pragma unroll
  for (int e = 0; e < NE; ++e) acc[e] = 0.0f;
  const float li = i < S ? lse[((long long)b * H + h) * S + i] : 0.0f;
  const float di = i < S ? delta[((long long)b * H + h) * S + i] : 0.0f;
  const int i_last = (i0 + ROWS_PER_TILE < S ? i0 + ROWS_PER_TILE : S) - 1;
  for (int j0 = first_key(i0); j0 <= i_last; j0 += ROWS_PER_TILE) {
    __syncthreads();
    load_tile<KVH>(Ks, k, b, j0, kvh);
    load_tile<KVH>(Vs, v, b, j0, kvh);
    __syncthreads();
#pragma unroll 4
    for (int jj = 0; jj < ROWS_PER_TILE; ++jj) {
      const float s = group_sum<TPR>(slice_dot(qv, Ks + jj * D, l));
      const float dp = group_sum<TPR>(slice_dot(dov, Vs + jj * D, l));
      const float p = visible(i, j0 + jj) ? expf(s * SCALE - li) : 0.0f;
      slice_axpy(acc, p * (dp - di) * SCALE, Ks + jj * D, l);
    }
  }
  if (i < S) store_slice(dq + row, acc, 1.0f, l);
}
)CUDA";

constexpr const char* kDkDv = R"CUDA(
extern "C" __global__ void __launch_bounds__(THREADS)
attention_backward_dkdv(float* __restrict__ dk, float* __restrict__ dv, const float* __restrict__ dout,
                        const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v,
                        const float* __restrict__ lse, const float* __restrict__ delta) {
  __shared__ __align__(16) float Qs[ROWS_PER_TILE * D];
  __shared__ __align__(16) float DOs[ROWS_PER_TILE * D];
  __shared__ float Ls[ROWS_PER_TILE], Ds[ROWS_PER_TILE];
  const int j0 = blockIdx.x * ROWS_PER_TILE;  // the longest columns (small j) start first
  const int kvh = blockIdx.y, b = blockIdx.z;
  const int l = threadIdx.x % TPR, j = j0 + threadIdx.x / TPR;
  const long long row = (((long long)b * S + j) * KVH + kvh) * D;
  float kv[NE], vv[NE], dka[NE], dva[NE];
  load_slice(kv, k + row, l, j < S);
  load_slice(vv, v + row, l, j < S);
#pragma unroll
  for (int e = 0; e < NE; ++e) dka[e] = dva[e] = 0.0f;
  const int j_last = (j0 + ROWS_PER_TILE < S ? j0 + ROWS_PER_TILE : S) - 1;
  const int i_end = WINDOW > 0 && j_last + WINDOW < S ? j_last + WINDOW : S;  // past the last query that sees the tile
  for (int h = kvh * GROUP; h < (kvh + 1) * GROUP; ++h)
    for (int i0 = j0; i0 < i_end; i0 += ROWS_PER_TILE) {
      __syncthreads();
      load_tile<H>(Qs, q, b, i0, h);
      load_tile<H>(DOs, dout, b, i0, h);
      for (int t = threadIdx.x; t < ROWS_PER_TILE; t += THREADS) {
        const bool valid = i0 + t < S;
        Ls[t] = valid ? lse[((long long)b * H + h) * S + i0 + t] : 0.0f;
        Ds[t] = valid ? delta[((long long)b * H + h) * S + i0 + t] : 0.0f;
      }
      __syncthreads();
#pragma unroll 1  // unrolling spills the four register slices at D = 128
      for (int ii = 0; ii < ROWS_PER_TILE; ++ii) {
        const int i = i0 + ii;
        const float s = group_sum<TPR>(slice_dot(kv, Qs + ii * D, l));
        const float dp = group_sum<TPR>(slice_dot(vv, DOs + ii * D, l));
        const float p = i < S && j < S && visible(i, j) ? expf(s * SCALE - Ls[ii]) : 0.0f;
        slice_axpy(dva, p, DOs + ii * D, l);
        slice_axpy(dka, p * (dp - Ds[ii]) * SCALE, Qs + ii * D, l);
      }
    }
  if (j < S) {
    store_slice(dk + row, dka, 1.0f, l);
    store_slice(dv + row, dva, 1.0f, l);
  }
}
)CUDA";

}  // namespace

KernelSource attention_backward(const AttentionShape& a) {
  if (a.segments)
    throw std::invalid_argument("CUDA codegen: attention_backward (fp32) takes no segment ids; packed documents run on "
                                "the tensor-core kernels (head_dim 64 or 128)");
  const AttentionLayout l = attention_layout(a, "attention_backward");
  KernelSource k = attention_source("attention_backward", a, l).text(kStats).text(kDq).text(kDkDv).finish();
  const int64_t q_elements = a.B * a.S * a.H * a.D, kv_elements = a.B * a.S * a.KVH * a.D;
  k.inputs = {{"dout", ir::DType::f32, q_elements},
              {"q", ir::DType::f32, q_elements},
              {"k", ir::DType::f32, kv_elements},
              {"v", ir::DType::f32, kv_elements}};
  k.outputs = {
      {"dq", ir::DType::f32, q_elements}, {"dk", ir::DType::f32, kv_elements}, {"dv", ir::DType::f32, kv_elements}};
  k.workspaces = {{"lse", a.B * a.H * a.S * 4}, {"delta", a.B * a.H * a.S * 4}};
  using K = Arg::Kind;
  const Dim3 block{static_cast<uint32_t>(l.rows * l.tpr), 1, 1};
  const Dim3 query_grid{blocks_for(a.S, l.rows), static_cast<uint32_t>(a.H), static_cast<uint32_t>(a.B)};
  const Dim3 key_grid{blocks_for(a.S, l.rows), static_cast<uint32_t>(a.KVH), static_cast<uint32_t>(a.B)};
  k.launches = {
      {"attention_backward_stats",
       query_grid,
       block,
       0,
       {{K::workspace, 0}, {K::workspace, 1}, {K::input, 0}, {K::input, 1}, {K::input, 2}, {K::input, 3}}},
      {"attention_backward_dq",
       query_grid,
       block,
       0,
       {{K::output, 0},
        {K::input, 0},
        {K::input, 1},
        {K::input, 2},
        {K::input, 3},
        {K::workspace, 0},
        {K::workspace, 1}}},
      {"attention_backward_dkdv",
       key_grid,
       block,
       0,
       {{K::output, 1},
        {K::output, 2},
        {K::input, 0},
        {K::input, 1},
        {K::input, 2},
        {K::input, 3},
        {K::workspace, 0},
        {K::workspace, 1}}},
  };
  return k;
}

}  // namespace horizon::codegen::cuda
