// Sums over rows: the bias gradient, and the row layouts and group partials
// the norm backward kernels share. Every sum over rows runs in two steps, a
// partial per fixed group of rows (each thread owning its columns and
// walking its rows in order) and then `column_sum` over the groups in
// order, so the bits never depend on scheduling and no atomics are needed.
#include <algorithm>
#include <stdexcept>

#include "codegen/cuda/kernels.h"
#include "codegen/cuda/reduction_layout.h"

namespace horizon::codegen::cuda {

RowLayout row_layout(int64_t C, const char* generator) {
  RowLayout l;
  l.vec = C % 4 == 0 ? 4 : 1;
  const int64_t vectors = C / l.vec;
  // About four vectors per thread keeps several loads in flight without
  // spilling; 32..1024 threads per row.
  const int64_t want = (vectors + 3) / 4;
  l.threads = static_cast<int>(std::clamp<int64_t>((want + 31) / 32 * 32, 32, 1024));
  l.items = static_cast<int>((vectors + l.threads - 1) / l.threads);
  if (C < 1 || l.items > 16)
    throw std::invalid_argument(std::string("CUDA codegen: ") + generator + ": row length C=" + std::to_string(C) +
                                " is outside 1..65536 (rows are held in registers)");
  l.rows = l.threads == 32 ? 4 : 1;
  return l;
}

void add_row_layout(SourceBuilder& b, const RowLayout& l) {
  b.constant("VEC", l.vec).constant("THREADS", l.threads).constant("ITEMS", l.items).constant("ROWS", l.rows);
  b.text(R"CUDA(
// One row per warp needs no shared memory; a wider row sums over the block.
template <class T> __device__ __forceinline__ T row_sum(T v, T* scratch) {
  if constexpr (THREADS == 32) return warp_sum(v);
  else return block_sum<THREADS>(v, scratch);
}
)CUDA");
}

RowGroups row_groups(int64_t N) {
  RowGroups g;
  g.per = std::max<int64_t>(1, (N + 511) / 512);
  g.groups = std::max<int64_t>(1, (N + g.per - 1) / g.per);
  return g;
}

const char* column_sum_kernel() {
  return R"CUDA(
extern "C" __global__ void __launch_bounds__(256) column_sum(float* __restrict__ out, const float* __restrict__ partial) {
  const int c = blockIdx.x * 256 + threadIdx.x;
  if (c >= SUM_COLS) return;
  float s = 0.0f;
  for (int g = 0; g < SUM_GROUPS; ++g) s += partial[(long long)g * SUM_COLS + c];
  out[c] = s;
}
)CUDA";
}

Launch column_sum_launch(int64_t cols, Arg out, Arg partial) {
  return Launch{"column_sum", {blocks_for(cols, 256), 1, 1}, {256, 1, 1}, 0, {out, partial}};
}

KernelSource bias_add_grad(int64_t N, int64_t O) {
  if (N < 1 || O < 1)
    throw std::invalid_argument("CUDA codegen: bias_add_grad: needs N >= 1 and O >= 1, got N=" + std::to_string(N) +
                                " O=" + std::to_string(O));
  const RowGroups g = row_groups(N);
  const int vec = O % 4 == 0 ? 4 : 1;
  SourceBuilder b("bias_add_grad");
  b.constant("N", N).constant("O", O).constant("VEC", vec).constant("PER", g.per).constant("GROUPS", g.groups);
  b.constant("SUM_COLS", O).constant("SUM_GROUPS", g.groups);
  b.text(R"CUDA(
// Block (x, g): VEC columns per thread, rows of group g in order.
extern "C" __global__ void __launch_bounds__(256) bias_grad_partial(float* __restrict__ partial, const float* __restrict__ dy) {
  const int c = (blockIdx.x * 256 + threadIdx.x) * VEC;
  if (c >= O) return;
  Vec<VEC> acc;
#pragma unroll
  for (int e = 0; e < VEC; ++e) acc.v[e] = 0.0f;
  const long long r0 = (long long)blockIdx.y * PER;
  const long long r1 = r0 + PER < N ? r0 + PER : N;
  for (long long r = r0; r < r1; ++r) {
    const Vec<VEC> v = load_vec<VEC>(dy + r * O + c);
#pragma unroll
    for (int e = 0; e < VEC; ++e) acc.v[e] += v.v[e];
  }
  store_vec<VEC>(partial + (long long)blockIdx.y * O + c, acc);
}
)CUDA");
  b.text(column_sum_kernel());
  KernelSource k = b.finish();
  k.inputs = {{"dy", ir::DType::f32, N * O}};
  k.outputs = {{"db", ir::DType::f32, O}};
  k.workspaces = {{"db_partial", g.groups * O * 4}};
  using K = Arg::Kind;
  k.launches = {
      {"bias_grad_partial",
       {blocks_for(O / vec, 256), static_cast<uint32_t>(g.groups), 1},
       {256, 1, 1},
       0,
       {{K::workspace, 0}, {K::input, 0}}},
      column_sum_launch(O, {K::output, 0}, {K::workspace, 0}),
  };
  return k;
}

}  // namespace horizon::codegen::cuda
