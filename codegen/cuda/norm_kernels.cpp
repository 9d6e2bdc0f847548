// RMSNorm and LayerNorm over the last dim, forward and backward, with the
// math of runtime/cpu/norm_kernels.cpp: the forward in fp32 as Hugging Face
// computes it; the backward forms its per-row scalars and dx in double,
// because dx cancels badly for small C. A row lives in registers (one warp
// or one block per row); dw and db are per-group partials (each thread owns
// its columns across the group's rows) added by `column_sum` in group order.
#include <stdexcept>

#include "codegen/cuda/kernels.h"
#include "codegen/cuda/reduction_layout.h"

namespace horizon::codegen::cuda {
namespace {

// Kernels first: the text each generator specializes.

constexpr const char* kRowLoop = R"CUDA(
// Column of vector i of this thread's share of a row.
__device__ __forceinline__ int column(int t, int i) { return (t + i * THREADS) * VEC; }
)CUDA";

constexpr const char* kRmsNormForward = R"CUDA(
extern "C" __global__ void __launch_bounds__(THREADS * ROWS)
rms_norm_forward(float* __restrict__ y, const float* __restrict__ x, const weight_t* __restrict__ w) {
  __shared__ float scratch[32];
  const int t = threadIdx.x % THREADS;
  const long long row = (long long)blockIdx.x * ROWS + threadIdx.x / THREADS;
  if (row >= N) return;  // whole warps only: with ROWS > 1 a row is one warp
  Vec<VEC> xv[ITEMS];
  float ss = 0.0f;
#pragma unroll
  for (int i = 0; i < ITEMS; ++i)
    if (column(t, i) < C) {
      xv[i] = load_vec<VEC>(x + row * C + column(t, i));
#pragma unroll
      for (int e = 0; e < VEC; ++e) ss += xv[i].v[e] * xv[i].v[e];
    }
  ss = row_sum(ss, scratch);
  const float r = 1.0f / sqrtf(ss / (float)C + EPS);
#pragma unroll
  for (int i = 0; i < ITEMS; ++i)
    if (column(t, i) < C) {
      const Vec<VEC> wv = load_vec<VEC>(w + column(t, i));
      Vec<VEC> o;
#pragma unroll
      for (int e = 0; e < VEC; ++e) o.v[e] = (xv[i].v[e] * r) * wv.v[e];  // normalize, then scale (HF order)
      store_vec<VEC>(y + row * C + column(t, i), o);
    }
}
)CUDA";

constexpr const char* kRmsNormBackward = R"CUDA(
// y = w x r, r = (mean(x^2) + eps)^-1/2; with g = dy w:
// dx = r g - x r^3 <g, x> / C, dw = sum over rows of dy x r.
extern "C" __global__ void __launch_bounds__(THREADS)
rms_norm_backward(float* __restrict__ dx, float* __restrict__ dw_partial, const float* __restrict__ dy,
                  const float* __restrict__ x, const weight_t* __restrict__ w) {
  __shared__ double scratch[32];
  const int t = threadIdx.x;
  Vec<VEC> wv[ITEMS], dwv[ITEMS];
#pragma unroll
  for (int i = 0; i < ITEMS; ++i) {
    if (column(t, i) < C) wv[i] = load_vec<VEC>(w + column(t, i));
#pragma unroll
    for (int e = 0; e < VEC; ++e) dwv[i].v[e] = 0.0f;
  }
  const long long row_end = (long long)(blockIdx.x + 1) * PER < N ? (long long)(blockIdx.x + 1) * PER : N;
  for (long long row = (long long)blockIdx.x * PER; row < row_end; ++row) {
    Vec<VEC> xv[ITEMS], dyv[ITEMS];
    double ss = 0.0, gx = 0.0;
#pragma unroll
    for (int i = 0; i < ITEMS; ++i)
      if (column(t, i) < C) {
        xv[i] = load_vec<VEC>(x + row * C + column(t, i));
        dyv[i] = load_vec<VEC>(dy + row * C + column(t, i));
#pragma unroll
        for (int e = 0; e < VEC; ++e) {
          ss += (double)xv[i].v[e] * xv[i].v[e];
          gx += (double)(dyv[i].v[e] * wv[i].v[e]) * xv[i].v[e];
        }
      }
    ss = block_sum<THREADS>(ss, scratch);
    gx = block_sum<THREADS>(gx, scratch);
    const double r = 1.0 / sqrt(ss / (double)C + (double)EPS);
    const double k = gx * r * r * r / (double)C;
    const float rf = (float)r;
#pragma unroll
    for (int i = 0; i < ITEMS; ++i)
      if (column(t, i) < C) {
        Vec<VEC> o;
#pragma unroll
        for (int e = 0; e < VEC; ++e) {
          o.v[e] = (float)(r * (double)(dyv[i].v[e] * wv[i].v[e]) - k * xv[i].v[e]);
          dwv[i].v[e] += dyv[i].v[e] * (xv[i].v[e] * rf);
        }
        store_vec<VEC>(dx + row * C + column(t, i), o);
      }
  }
#pragma unroll
  for (int i = 0; i < ITEMS; ++i)
    if (column(t, i) < C) store_vec<VEC>(dw_partial + (long long)blockIdx.x * C + column(t, i), dwv[i]);
}
)CUDA";

constexpr const char* kLayerNormForward = R"CUDA(
extern "C" __global__ void __launch_bounds__(THREADS * ROWS)
layer_norm_forward(float* __restrict__ y, const float* __restrict__ x, const weight_t* __restrict__ w,
                   const bias_t* __restrict__ b) {
  __shared__ float scratch[32];
  const int t = threadIdx.x % THREADS;
  const long long row = (long long)blockIdx.x * ROWS + threadIdx.x / THREADS;
  if (row >= N) return;
  Vec<VEC> xv[ITEMS];
  float s = 0.0f;
#pragma unroll
  for (int i = 0; i < ITEMS; ++i)
    if (column(t, i) < C) {
      xv[i] = load_vec<VEC>(x + row * C + column(t, i));
#pragma unroll
      for (int e = 0; e < VEC; ++e) s += xv[i].v[e];
    }
  const float mean = row_sum(s, scratch) / (float)C;
  float var = 0.0f;  // of the centered row, which does not cancel
#pragma unroll
  for (int i = 0; i < ITEMS; ++i)
    if (column(t, i) < C)
#pragma unroll
      for (int e = 0; e < VEC; ++e) var += (xv[i].v[e] - mean) * (xv[i].v[e] - mean);
  var = row_sum(var, scratch);
  const float rstd = 1.0f / sqrtf(var / (float)C + EPS);
#pragma unroll
  for (int i = 0; i < ITEMS; ++i)
    if (column(t, i) < C) {
      const Vec<VEC> wv = load_vec<VEC>(w + column(t, i)), bv = load_vec<VEC>(b + column(t, i));
      Vec<VEC> o;
#pragma unroll
      for (int e = 0; e < VEC; ++e) o.v[e] = (xv[i].v[e] - mean) * rstd * wv.v[e] + bv.v[e];
      store_vec<VEC>(y + row * C + column(t, i), o);
    }
}
)CUDA";

constexpr const char* kLayerNormBackward = R"CUDA(
// With xhat = (x - mean) rstd and g = dy w:
// dx = rstd (g - mean(g) - xhat mean(g xhat)); dw = sum dy xhat; db = sum dy.
extern "C" __global__ void __launch_bounds__(THREADS)
layer_norm_backward(float* __restrict__ dx, float* __restrict__ dw_partial, float* __restrict__ db_partial,
                    const float* __restrict__ dy, const float* __restrict__ x, const weight_t* __restrict__ w) {
  __shared__ double scratch[32];
  const int t = threadIdx.x;
  Vec<VEC> wv[ITEMS], dwv[ITEMS], dbv[ITEMS];
#pragma unroll
  for (int i = 0; i < ITEMS; ++i) {
    if (column(t, i) < C) wv[i] = load_vec<VEC>(w + column(t, i));
#pragma unroll
    for (int e = 0; e < VEC; ++e) dwv[i].v[e] = dbv[i].v[e] = 0.0f;
  }
  const long long row_end = (long long)(blockIdx.x + 1) * PER < N ? (long long)(blockIdx.x + 1) * PER : N;
  for (long long row = (long long)blockIdx.x * PER; row < row_end; ++row) {
    Vec<VEC> xv[ITEMS], dyv[ITEMS];
    double s = 0.0;
#pragma unroll
    for (int i = 0; i < ITEMS; ++i)
      if (column(t, i) < C) {
        xv[i] = load_vec<VEC>(x + row * C + column(t, i));
        dyv[i] = load_vec<VEC>(dy + row * C + column(t, i));
#pragma unroll
        for (int e = 0; e < VEC; ++e) s += xv[i].v[e];
      }
    const double mean = block_sum<THREADS>(s, scratch) / (double)C;
    double var = 0.0;
#pragma unroll
    for (int i = 0; i < ITEMS; ++i)
      if (column(t, i) < C)
#pragma unroll
        for (int e = 0; e < VEC; ++e) var += (xv[i].v[e] - mean) * (xv[i].v[e] - mean);
    const double rstd = 1.0 / sqrt(block_sum<THREADS>(var, scratch) / (double)C + (double)EPS);
    double sum_g = 0.0, sum_gx = 0.0;
#pragma unroll
    for (int i = 0; i < ITEMS; ++i)
      if (column(t, i) < C)
#pragma unroll
        for (int e = 0; e < VEC; ++e) {
          const double g = (double)dyv[i].v[e] * wv[i].v[e];
          sum_g += g;
          sum_gx += g * ((xv[i].v[e] - mean) * rstd);
        }
    const double mean_g = block_sum<THREADS>(sum_g, scratch) / (double)C;
    const double mean_gx = block_sum<THREADS>(sum_gx, scratch) / (double)C;
#pragma unroll
    for (int i = 0; i < ITEMS; ++i)
      if (column(t, i) < C) {
        Vec<VEC> o;
#pragma unroll
        for (int e = 0; e < VEC; ++e) {
          const double xhat = (xv[i].v[e] - mean) * rstd;
          const double g = (double)dyv[i].v[e] * wv[i].v[e];
          o.v[e] = (float)(rstd * (g - mean_g - xhat * mean_gx));
          dwv[i].v[e] += dyv[i].v[e] * (float)xhat;
          dbv[i].v[e] += dyv[i].v[e];
        }
        store_vec<VEC>(dx + row * C + column(t, i), o);
      }
  }
#pragma unroll
  for (int i = 0; i < ITEMS; ++i)
    if (column(t, i) < C) {
      store_vec<VEC>(dw_partial + (long long)blockIdx.x * C + column(t, i), dwv[i]);
      store_vec<VEC>(db_partial + (long long)blockIdx.x * C + column(t, i), dbv[i]);
    }
}
)CUDA";

// Then the generators.

void check_rows(const char* generator, int64_t N, int64_t C) {
  if (N < 1 || C < 1)
    throw std::invalid_argument(std::string("CUDA codegen: ") + generator +
                                ": needs N >= 1 and C >= 1, got N=" + std::to_string(N) + " C=" + std::to_string(C));
}

SourceBuilder row_source(const char* name, int64_t N, int64_t C, float eps, const RowLayout& l) {
  SourceBuilder b(name);
  b.constant("N", N).constant("C", C).constant_f32("EPS", eps);
  add_row_layout(b, l);
  b.text(kRowLoop);
  return b;
}

Launch forward_launch(const char* entry, int64_t N, const RowLayout& l, int inputs) {
  Launch launch{entry, {blocks_for(N, l.rows), 1, 1}, {static_cast<uint32_t>(l.threads * l.rows), 1, 1}, 0, {}};
  launch.args.push_back({Arg::Kind::output, 0});
  for (int i = 0; i < inputs; ++i) launch.args.push_back({Arg::Kind::input, i});
  return launch;
}

}  // namespace

KernelSource rms_norm_forward(int64_t N, int64_t C, float eps, ir::DType w) {
  check_rows("rms_norm_forward", N, C);
  const RowLayout l = row_layout(C, "rms_norm_forward");
  SourceBuilder b = row_source("rms_norm_forward", N, C, eps, l);
  b.storage_type("weight_t", w).text(kRmsNormForward);
  KernelSource k = b.finish();
  k.inputs = {{"x", ir::DType::f32, N * C}, {"w", w, C}};
  k.outputs = {{"y", ir::DType::f32, N * C}};
  k.launches = {forward_launch("rms_norm_forward", N, l, 2)};
  return k;
}

KernelSource rms_norm_backward(int64_t N, int64_t C, float eps, ir::DType w) {
  check_rows("rms_norm_backward", N, C);
  RowLayout l = row_layout(C, "rms_norm_backward");
  l.rows = 1;  // one block walks a group of rows
  const RowGroups g = row_groups(N);
  SourceBuilder b = row_source("rms_norm_backward", N, C, eps, l);
  b.storage_type("weight_t", w).constant("PER", g.per).constant("SUM_COLS", C).constant("SUM_GROUPS", g.groups);
  b.text(kRmsNormBackward).text(column_sum_kernel());
  KernelSource k = b.finish();
  k.inputs = {{"dy", ir::DType::f32, N * C}, {"x", ir::DType::f32, N * C}, {"w", w, C}};
  k.outputs = {{"dx", ir::DType::f32, N * C}, {"dw", ir::DType::f32, C}};
  k.workspaces = {{"dw_partial", g.groups * C * 4}};
  using K = Arg::Kind;
  k.launches = {{"rms_norm_backward",
                 {static_cast<uint32_t>(g.groups), 1, 1},
                 {static_cast<uint32_t>(l.threads), 1, 1},
                 0,
                 {{K::output, 0}, {K::workspace, 0}, {K::input, 0}, {K::input, 1}, {K::input, 2}}},
                column_sum_launch(C, {K::output, 1}, {K::workspace, 0})};
  return k;
}

KernelSource layer_norm_forward(int64_t N, int64_t C, float eps, ir::DType w, ir::DType bias) {
  check_rows("layer_norm_forward", N, C);
  const RowLayout l = row_layout(C, "layer_norm_forward");
  SourceBuilder b = row_source("layer_norm_forward", N, C, eps, l);
  b.storage_type("weight_t", w).storage_type("bias_t", bias).text(kLayerNormForward);
  KernelSource k = b.finish();
  k.inputs = {{"x", ir::DType::f32, N * C}, {"w", w, C}, {"b", bias, C}};
  k.outputs = {{"y", ir::DType::f32, N * C}};
  k.launches = {forward_launch("layer_norm_forward", N, l, 3)};
  return k;
}

KernelSource layer_norm_backward(int64_t N, int64_t C, float eps, ir::DType w) {
  check_rows("layer_norm_backward", N, C);
  RowLayout l = row_layout(C, "layer_norm_backward");
  l.rows = 1;  // one block walks a group of rows
  const RowGroups g = row_groups(N);
  SourceBuilder b = row_source("layer_norm_backward", N, C, eps, l);
  b.storage_type("weight_t", w).constant("PER", g.per).constant("SUM_COLS", C).constant("SUM_GROUPS", g.groups);
  b.text(kLayerNormBackward).text(column_sum_kernel());
  KernelSource k = b.finish();
  k.inputs = {{"dy", ir::DType::f32, N * C}, {"x", ir::DType::f32, N * C}, {"w", w, C}};
  k.outputs = {{"dx", ir::DType::f32, N * C}, {"dw", ir::DType::f32, C}, {"db", ir::DType::f32, C}};
  k.workspaces = {{"dw_partial", g.groups * C * 4}, {"db_partial", g.groups * C * 4}};
  using K = Arg::Kind;
  k.launches = {{"layer_norm_backward",
                 {static_cast<uint32_t>(g.groups), 1, 1},
                 {static_cast<uint32_t>(l.threads), 1, 1},
                 0,
                 {{K::output, 0}, {K::workspace, 0}, {K::workspace, 1}, {K::input, 0}, {K::input, 1}, {K::input, 2}}},
                column_sum_launch(C, {K::output, 1}, {K::workspace, 0}),
                column_sum_launch(C, {K::output, 2}, {K::workspace, 1})};
  return k;
}

}  // namespace horizon::codegen::cuda
