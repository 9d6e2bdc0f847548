// Token and learned-position embeddings, forward and backward, as
// runtime/cpu/embedding_kernels.cpp. The table gradients are scatter-adds
// made deterministic by ownership instead of atomics: a block owns a range
// of table rows (and a slice of columns), finds the tokens that land in its
// rows in input order, and adds their dy rows in that order, so every row is
// the same left-to-right sum the CPU forms, bit for bit.
#include <algorithm>
#include <stdexcept>

#include "codegen/cuda/kernels.h"

namespace horizon::codegen::cuda {
namespace {

constexpr const char* kEmbeddingForward = R"CUDA(
extern "C" __global__ void __launch_bounds__(256)
embedding_forward(float* __restrict__ y, const int* __restrict__ tokens, const table_t* __restrict__ table) {
  const long long idx = (long long)blockIdx.x * 256 + threadIdx.x;
  if (idx >= (long long)N * (C / VEC)) return;
  const long long n = idx / (C / VEC);
  const int c = (int)(idx % (C / VEC)) * VEC;
  store_vec<VEC>(y + n * C + c, load_vec<VEC>(table + (long long)tokens[n] * C + c));
}
)CUDA";

// Block (x, y) owns table rows [x * ROWS_PER_BLOCK, ...) and columns
// [y * 256 * VEC, ...). Each pass takes 256 tokens, compacts those in its
// rows into shared memory in input order (warp ballots plus a scan of the
// warp counts), then adds their dy rows.
constexpr const char* kEmbeddingBackward = R"CUDA(
extern "C" __global__ void __launch_bounds__(256)
embedding_backward(float* __restrict__ dtable, const float* __restrict__ dy, const int* __restrict__ tokens) {
  __shared__ int match_n[256], match_row[256], warp_counts[8];
  const int v0 = blockIdx.x * ROWS_PER_BLOCK;
  const int v1 = v0 + ROWS_PER_BLOCK < V ? v0 + ROWS_PER_BLOCK : V;
  const int c = (blockIdx.y * 256 + threadIdx.x) * VEC;
  const bool active = c < C;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (active) {
    Vec<VEC> zero;
#pragma unroll
    for (int e = 0; e < VEC; ++e) zero.v[e] = 0.0f;
    for (int v = v0; v < v1; ++v) store_vec<VEC>(dtable + (long long)v * C + c, zero);
  }
  for (int n0 = 0; n0 < N; n0 += 256) {
    const int n = n0 + threadIdx.x;
    const int tok = n < N ? tokens[n] : -1;
    const bool hit = tok >= v0 && tok < v1;
    const unsigned ballot = __ballot_sync(0xffffffffu, hit);
    if (lane == 0) warp_counts[warp] = __popc(ballot);
    __syncthreads();
    int offset = 0, total = 0;
#pragma unroll
    for (int w = 0; w < 8; ++w) {
      offset += w < warp ? warp_counts[w] : 0;
      total += warp_counts[w];
    }
    if (hit) {
      const int slot = offset + __popc(ballot & ((1u << lane) - 1u));
      match_n[slot] = n;
      match_row[slot] = tok;
    }
    __syncthreads();
    if (active)
      for (int m = 0; m < total; ++m) {
        float* row = dtable + (long long)match_row[m] * C + c;
        Vec<VEC> acc = load_vec<VEC>(row);
        const Vec<VEC> d = load_vec<VEC>(dy + (long long)match_n[m] * C + c);
#pragma unroll
        for (int e = 0; e < VEC; ++e) acc.v[e] += d.v[e];
        store_vec<VEC>(row, acc);
      }
    __syncthreads();  // match_* are rewritten by the next pass
  }
}
)CUDA";

constexpr const char* kAddPositionsForward = R"CUDA(
extern "C" __global__ void __launch_bounds__(256)
add_positions_forward(float* __restrict__ y, const float* __restrict__ x, const table_t* __restrict__ table) {
  const long long idx = (long long)blockIdx.x * 256 + threadIdx.x;
  if (idx >= (long long)B * S * (C / VEC)) return;
  const long long row = idx / (C / VEC);
  const int c = (int)(idx % (C / VEC)) * VEC;
  const Vec<VEC> a = load_vec<VEC>(x + row * C + c);
  const Vec<VEC> p = load_vec<VEC>(table + (row % S) * C + c);
  Vec<VEC> o;
#pragma unroll
  for (int e = 0; e < VEC; ++e) o.v[e] = a.v[e] + p.v[e];
  store_vec<VEC>(y + row * C + c, o);
}
)CUDA";

// Each thread owns VEC columns of one table row and sums the batch in order.
constexpr const char* kAddPositionsBackward = R"CUDA(
extern "C" __global__ void __launch_bounds__(256)
add_positions_backward(float* __restrict__ dtable, const float* __restrict__ dy) {
  const long long idx = (long long)blockIdx.x * 256 + threadIdx.x;
  if (idx >= (long long)P * (C / VEC)) return;
  const int p = (int)(idx / (C / VEC));
  const int c = (int)(idx % (C / VEC)) * VEC;
  Vec<VEC> acc;
#pragma unroll
  for (int e = 0; e < VEC; ++e) acc.v[e] = 0.0f;
  if (p < S)  // positions past this sequence length get no gradient
    for (int b = 0; b < B; ++b) {
      const Vec<VEC> d = load_vec<VEC>(dy + ((long long)b * S + p) * C + c);
#pragma unroll
      for (int e = 0; e < VEC; ++e) acc.v[e] += d.v[e];
    }
  store_vec<VEC>(dtable + (long long)p * C + c, acc);
}
)CUDA";

void check(const char* generator, bool ok, const std::string& shapes) {
  if (!ok) throw std::invalid_argument(std::string("CUDA codegen: ") + generator + ": invalid shape " + shapes);
}

int vec_for(int64_t C) { return C % 4 == 0 ? 4 : 1; }

Launch elementwise_launch(const char* entry, int64_t threads, std::vector<Arg> args) {
  return Launch{entry, {blocks_for(threads, 256), 1, 1}, {256, 1, 1}, 0, std::move(args)};
}

using K = Arg::Kind;

}  // namespace

KernelSource embedding_forward(int64_t N, int64_t C, int64_t V, ir::DType table) {
  check("embedding_forward", N >= 1 && C >= 1 && V >= 1,
        "N=" + std::to_string(N) + " C=" + std::to_string(C) + " V=" + std::to_string(V));
  SourceBuilder b("embedding_forward");
  b.constant("N", N).constant("C", C).constant("V", V).constant("VEC", vec_for(C)).storage_type("table_t", table);
  KernelSource k = b.text(kEmbeddingForward).finish();
  k.inputs = {{"tokens", ir::DType::i32, N}, {"table", table, V * C}};
  k.outputs = {{"y", ir::DType::f32, N * C}};
  k.launches = {
      elementwise_launch("embedding_forward", N * (C / vec_for(C)), {{K::output, 0}, {K::input, 0}, {K::input, 1}})};
  return k;
}

KernelSource embedding_backward(int64_t N, int64_t C, int64_t V) {
  check("embedding_backward", N >= 1 && C >= 1 && V >= 1,
        "N=" + std::to_string(N) + " C=" + std::to_string(C) + " V=" + std::to_string(V));
  // About 1024 row blocks: enough to fill the GPU, few enough that the token
  // list (read once per block) stays cheap.
  const int64_t rows_per_block = std::max<int64_t>(1, (V + 1023) / 1024);
  const int vec = vec_for(C);
  SourceBuilder b("embedding_backward");
  b.constant("N", N).constant("C", C).constant("V", V).constant("VEC", vec).constant("ROWS_PER_BLOCK", rows_per_block);
  KernelSource k = b.text(kEmbeddingBackward).finish();
  k.inputs = {{"dy", ir::DType::f32, N * C}, {"tokens", ir::DType::i32, N}};
  k.outputs = {{"dtable", ir::DType::f32, V * C}};
  k.launches = {{"embedding_backward",
                 {blocks_for(V, rows_per_block), blocks_for(C / vec, 256), 1},
                 {256, 1, 1},
                 0,
                 {{K::output, 0}, {K::input, 0}, {K::input, 1}}}};
  return k;
}

KernelSource add_positions_forward(int64_t B, int64_t S, int64_t C, int64_t P, ir::DType table) {
  check("add_positions_forward", B >= 1 && S >= 1 && C >= 1 && P >= S,
        "B=" + std::to_string(B) + " S=" + std::to_string(S) + " C=" + std::to_string(C) + " P=" + std::to_string(P) +
            " (needs P >= S)");
  SourceBuilder b("add_positions_forward");
  b.constant("B", B).constant("S", S).constant("C", C).constant("P", P).constant("VEC", vec_for(C));
  b.storage_type("table_t", table);
  KernelSource k = b.text(kAddPositionsForward).finish();
  k.inputs = {{"x", ir::DType::f32, B * S * C}, {"table", table, P * C}};
  k.outputs = {{"y", ir::DType::f32, B * S * C}};
  k.launches = {elementwise_launch("add_positions_forward", B * S * (C / vec_for(C)),
                                   {{K::output, 0}, {K::input, 0}, {K::input, 1}})};
  return k;
}

KernelSource add_positions_backward(int64_t B, int64_t S, int64_t C, int64_t P) {
  check("add_positions_backward", B >= 1 && S >= 1 && C >= 1 && P >= 1,
        "B=" + std::to_string(B) + " S=" + std::to_string(S) + " C=" + std::to_string(C) + " P=" + std::to_string(P));
  SourceBuilder b("add_positions_backward");
  b.constant("B", B).constant("S", S).constant("C", C).constant("P", P).constant("VEC", vec_for(C));
  KernelSource k = b.text(kAddPositionsBackward).finish();
  k.inputs = {{"dy", ir::DType::f32, B * S * C}};
  k.outputs = {{"dtable", ir::DType::f32, P * C}};
  k.launches = {elementwise_launch("add_positions_backward", P * (C / vec_for(C)), {{K::output, 0}, {K::input, 0}})};
  return k;
}

}  // namespace horizon::codegen::cuda
