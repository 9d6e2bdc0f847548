// Causal grouped-query attention, forward, flash style, with the math of
// runtime/cpu/attention_kernels.cpp in fp32: a block owns a tile of query
// rows of one (batch, head), streams the visible keys and values through
// shared memory a tile at a time and keeps an online softmax (running max,
// sum and unnormalized output) in registers, so nothing of size S x S is
// ever stored. Query head h reads key/value head h / (H / KVH); with a
// window, key j is visible to query i iff i - window < j <= i.
#include <cmath>
#include <stdexcept>

#include "codegen/cuda/attention_layout.h"

namespace horizon::codegen::cuda {
namespace {

constexpr const char* kShared = R"CUDA(
constexpr int GROUP = H / KVH;
constexpr int THREADS = ROWS_PER_TILE * TPR;
constexpr int NV = D / (VEC * TPR);  // vectors in one thread's slice of a head row
constexpr int NE = NV * VEC;         // channels in one thread's slice
constexpr int TILES = (S + ROWS_PER_TILE - 1) / ROWS_PER_TILE;

// Channel of vector m of lane l's slice: lanes interleave, so the TPR lanes
// of a row read adjacent vectors of a shared-memory row (no bank conflicts).
__device__ __forceinline__ int slice_at(int l, int m) { return (m * TPR + l) * VEC; }

__device__ __forceinline__ bool visible(int i, int j) { return j <= i && (WINDOW == 0 || j > i - WINDOW); }
__device__ __forceinline__ int first_key(int i) { return WINDOW > 0 && i - WINDOW + 1 > 0 ? i - WINDOW + 1 : 0; }

// Rows [r0, r0 + ROWS_PER_TILE) of head `head` of a [B, S, HEADS, D] tensor
// into tile[ROWS_PER_TILE][D]; rows past S read as zeros.
template <int HEADS>
__device__ __forceinline__ void load_tile(float* tile, const float* src, int b, int r0, int head) {
  constexpr int D4 = D / 4;
  for (int f = threadIdx.x; f < ROWS_PER_TILE * D4; f += THREADS) {
    const int r = f / D4, c = (f % D4) * 4;
    float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if (r0 + r < S) v = *reinterpret_cast<const float4*>(src + (((long long)b * S + r0 + r) * HEADS + head) * D + c);
    *reinterpret_cast<float4*>(tile + r * D + c) = v;
  }
}

__device__ __forceinline__ void load_slice(float (&dst)[NE], const float* row, int l, bool valid) {
#pragma unroll
  for (int m = 0; m < NV; ++m) {
    Vec<VEC> v;
#pragma unroll
    for (int e = 0; e < VEC; ++e) v.v[e] = 0.0f;
    if (valid) v = load_vec<VEC>(row + slice_at(l, m));
#pragma unroll
    for (int e = 0; e < VEC; ++e) dst[m * VEC + e] = v.v[e];
  }
}

__device__ __forceinline__ void store_slice(float* row, const float (&src)[NE], float scale, int l) {
#pragma unroll
  for (int m = 0; m < NV; ++m) {
    Vec<VEC> v;
#pragma unroll
    for (int e = 0; e < VEC; ++e) v.v[e] = src[m * VEC + e] * scale;
    store_vec<VEC>(row + slice_at(l, m), v);
  }
}

// This lane's part of the dot product of a register slice with a row in shared memory.
__device__ __forceinline__ float slice_dot(const float (&a)[NE], const float* srow, int l) {
  float s = 0.0f;
#pragma unroll
  for (int m = 0; m < NV; ++m) {
    const Vec<VEC> v = load_vec<VEC>(srow + slice_at(l, m));
#pragma unroll
    for (int e = 0; e < VEC; ++e) s += a[m * VEC + e] * v.v[e];
  }
  return s;
}

__device__ __forceinline__ void slice_axpy(float (&acc)[NE], float a, const float* srow, int l) {
#pragma unroll
  for (int m = 0; m < NV; ++m) {
    const Vec<VEC> v = load_vec<VEC>(srow + slice_at(l, m));
#pragma unroll
    for (int e = 0; e < VEC; ++e) acc[m * VEC + e] += a * v.v[e];
  }
}

// The online softmax of query i (this lane's slice qv) over its visible
// keys, for the query tile starting at i0: leaves the running max, the sum
// and the unnormalized output slice. Every thread of the block calls it.
__device__ __forceinline__ void attend(float (&acc)[NE], float& mx, float& sum, const float (&qv)[NE],
                                       const float* k, const float* v, float* Ks, float* Vs, int b, int kvh, int i0,
                                       int i, int l) {
#pragma unroll
  for (int e = 0; e < NE; ++e) acc[e] = 0.0f;
  mx = -HZ_INFINITY;
  sum = 0.0f;
  const int i_last = (i0 + ROWS_PER_TILE < S ? i0 + ROWS_PER_TILE : S) - 1;
  for (int j0 = first_key(i0); j0 <= i_last; j0 += ROWS_PER_TILE) {
    __syncthreads();  // the previous tile's readers are done
    load_tile<KVH>(Ks, k, b, j0, kvh);
    load_tile<KVH>(Vs, v, b, j0, kvh);
    __syncthreads();
    float sc[ROWS_PER_TILE];
    float tile_max = -HZ_INFINITY;
#pragma unroll
    for (int jj = 0; jj < ROWS_PER_TILE; ++jj) {
      const float s = group_sum<TPR>(slice_dot(qv, Ks + jj * D, l)) * SCALE;
      sc[jj] = visible(i, j0 + jj) ? s : -HZ_INFINITY;
      tile_max = fmaxf(tile_max, sc[jj]);
    }
    if (tile_max != -HZ_INFINITY) {  // the same for the TPR lanes of a row
      const float new_max = fmaxf(mx, tile_max);
      const float correction = expf(mx - new_max);  // exp(-inf) = 0 on the first visible tile
      sum *= correction;
#pragma unroll
      for (int e = 0; e < NE; ++e) acc[e] *= correction;
#pragma unroll
      for (int jj = 0; jj < ROWS_PER_TILE; ++jj) {
        const float p = expf(sc[jj] - new_max);
        sum += p;
        slice_axpy(acc, p, Vs + jj * D, l);
      }
      mx = new_max;
    }
  }
}
)CUDA";

constexpr const char* kForward = R"CUDA(
extern "C" __global__ void __launch_bounds__(THREADS)
attention_forward(float* __restrict__ out, const float* __restrict__ q, const float* __restrict__ k,
                  const float* __restrict__ v) {
  __shared__ __align__(16) float Ks[ROWS_PER_TILE * D];
  __shared__ __align__(16) float Vs[ROWS_PER_TILE * D];
  const int i0 = (TILES - 1 - blockIdx.x) * ROWS_PER_TILE;  // the longest rows start first
  const int h = blockIdx.y, b = blockIdx.z;
  const int l = threadIdx.x % TPR, i = i0 + threadIdx.x / TPR;
  const long long row = (((long long)b * S + i) * H + h) * D;
  float qv[NE], acc[NE], mx, sum;
  load_slice(qv, q + row, l, i < S);
  attend(acc, mx, sum, qv, k, v, Ks, Vs, b, h / GROUP, i0, i, l);
  if (i < S) store_slice(out + row, acc, 1.0f / sum, l);
}
)CUDA";

}  // namespace

AttentionLayout attention_layout(const AttentionShape& a, const char* generator) {
  auto fail = [&](const std::string& why) {
    throw std::invalid_argument(std::string("CUDA codegen: ") + generator + ": " + why + " (B=" + std::to_string(a.B) +
                                " S=" + std::to_string(a.S) + " H=" + std::to_string(a.H) +
                                " KVH=" + std::to_string(a.KVH) + " D=" + std::to_string(a.D) +
                                " window=" + std::to_string(a.window) + ")");
  };
  if (a.B < 1 || a.S < 1 || a.H < 1 || a.KVH < 1 || a.window < 0) fail("needs B, S, H, KVH >= 1 and window >= 0");
  if (a.H % a.KVH != 0) fail("H must be a multiple of KVH");
  if (a.D < 4 || a.D % 4 != 0 || a.D > 256) fail("head dim D must be a multiple of 4 in 4..256");
  AttentionLayout l;
  // At most 32 channels per thread keeps q, the accumulators and (backward)
  // k, v, dk, dv in registers.
  l.tpr = a.D <= 128 ? 4 : 8;
  l.vec = a.D % (4 * l.tpr) == 0 ? 4 : 1;
  if (a.D % (l.vec * l.tpr) != 0) fail("head dim D must be a multiple of " + std::to_string(l.tpr));
  l.rows = 128 / l.tpr;
  return l;
}

SourceBuilder attention_source(const char* name, const AttentionShape& a, const AttentionLayout& l) {
  SourceBuilder b(name);
  b.constant("B", a.B).constant("S", a.S).constant("H", a.H).constant("KVH", a.KVH).constant("D", a.D);
  b.constant("WINDOW", a.window).constant_f32("SCALE", 1.0f / std::sqrt(static_cast<float>(a.D)));
  b.constant("TPR", l.tpr).constant("VEC", l.vec).constant("ROWS_PER_TILE", l.rows);
  b.text(kShared);
  return b;
}

KernelSource attention_forward(const AttentionShape& a) {
  if (a.segments)
    throw std::invalid_argument("CUDA codegen: attention_forward (fp32) takes no segment ids; packed documents run on "
                                "the tensor-core kernels (head_dim 64 or 128)");
  const AttentionLayout l = attention_layout(a, "attention_forward");
  KernelSource k = attention_source("attention_forward", a, l).text(kForward).finish();
  k.inputs = {{"q", ir::DType::f32, a.B * a.S * a.H * a.D},
              {"k", ir::DType::f32, a.B * a.S * a.KVH * a.D},
              {"v", ir::DType::f32, a.B * a.S * a.KVH * a.D}};
  k.outputs = {{"out", ir::DType::f32, a.B * a.S * a.H * a.D}};
  using K = Arg::Kind;
  k.launches = {{"attention_forward",
                 {blocks_for(a.S, l.rows), static_cast<uint32_t>(a.H), static_cast<uint32_t>(a.B)},
                 {static_cast<uint32_t>(l.rows * l.tpr), 1, 1},
                 0,
                 {{K::output, 0}, {K::input, 0}, {K::input, 1}, {K::input, 2}}}};
  return k;
}

}  // namespace horizon::codegen::cuda
