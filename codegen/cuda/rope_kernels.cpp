// Rotary position embedding in the Hugging Face rotate-half layout, as
// runtime/cpu/rope_kernels.cpp: within each head of D channels, channel
// i < D/2 pairs with i + D/2 and the pair turns by s * inv_freq[i] at
// position s. The frequencies (with Llama 3 or linear scaling) are computed
// on the host in double and baked into the source; the kernel forms the
// angle and its cos/sin in double and rounds them to fp32, as the CPU does.
// With packed documents a second input gives each row its position.
#include <cmath>
#include <numbers>
#include <stdexcept>

#include "codegen/cuda/kernels.h"

namespace horizon::codegen::cuda {
namespace {

// One thread per (row, pair i): cos/sin once, applied to all H heads. The
// backward is the same rotation by -angle (SIGN = -1), its transpose.
constexpr const char* kRope = R"CUDA(
__device__ const double INV_FREQ[HALF] = {INV_FREQ_VALUES};

extern "C" __global__ void __launch_bounds__(256) ENTRY(float* __restrict__ y, const float* __restrict__ x POSITIONS_ARG) {
  const long long idx = (long long)blockIdx.x * 256 + threadIdx.x;
  if (idx >= (long long)B * S * HALF) return;
  const int i = (int)(idx % HALF);
  const long long row = idx / HALF;
  const double angle = (double)(ROW_POSITION) * INV_FREQ[i];
  double sn, cs;
  sincos(angle, &sn, &cs);
  const float c = (float)cs, s = SIGN * (float)sn;
#pragma unroll 4
  for (int h = 0; h < H; ++h) {
    const long long base = (row * H + h) * D;
    const float x1 = x[base + i], x2 = x[base + i + HALF];
    y[base + i] = x1 * c - x2 * s;
    y[base + i + HALF] = x2 * c + x1 * s;
  }
}
)CUDA";

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
}

KernelSource rope(const char* name, float sign, int64_t B, int64_t S, int64_t H, int64_t D, const RopeParams& p,
                  bool positions) {
  if (B < 1 || S < 1 || H < 1 || D < 2 || D % 2 != 0)
    throw std::invalid_argument(std::string("CUDA codegen: ") + name +
                                ": needs B, S, H >= 1 and an even D >= 2, got B=" + std::to_string(B) +
                                " S=" + std::to_string(S) + " H=" + std::to_string(H) + " D=" + std::to_string(D));
  std::string values;
  for (double f : rope_inv_freq(D, p)) values += (values.empty() ? "" : ", ") + double_literal(f);
  std::string body = kRope;
  replace_all(body, "INV_FREQ_VALUES", values);
  replace_all(body, "ENTRY", name);
  replace_all(body, "POSITIONS_ARG", positions ? ", const int* __restrict__ positions" : "");
  replace_all(body, "ROW_POSITION", positions ? "positions[row]" : "row % S");
  SourceBuilder b(name);
  b.constant("B", B).constant("S", S).constant("H", H).constant("D", D).constant("HALF", D / 2);
  b.constant_f32("SIGN", sign).note("theta", double_literal(p.theta));
  if (p.low_freq_factor > 0)
    b.note("llama3_factor", double_literal(p.scaling_factor))
        .note("low_freq_factor", double_literal(p.low_freq_factor))
        .note("high_freq_factor", double_literal(p.high_freq_factor))
        .note("original_max_positions", double_literal(p.original_max_positions));
  else if (p.scaling_factor > 0)
    b.note("linear_factor", double_literal(p.scaling_factor));
  b.text(body);
  KernelSource k = b.finish();
  const int64_t elements = B * S * H * D;
  k.inputs = {{sign > 0 ? "x" : "dy", ir::DType::f32, elements}};
  k.outputs = {{sign > 0 ? "y" : "dx", ir::DType::f32, elements}};
  std::vector<Arg> args = {{Arg::Kind::output, 0}, {Arg::Kind::input, 0}};
  if (positions) {
    b.note("positions", "per row");
    k.inputs.push_back({"positions", ir::DType::i32, B * S});
    args.push_back({Arg::Kind::input, 1});
  }
  k.launches = {{name, {blocks_for(B * S * (D / 2), 256), 1, 1}, {256, 1, 1}, 0, args}};
  return k;
}

}  // namespace

KernelSource rope_forward(int64_t B, int64_t S, int64_t H, int64_t D, const RopeParams& p, bool positions) {
  return rope("rope_forward", 1.0f, B, S, H, D, p, positions);
}

KernelSource rope_backward(int64_t B, int64_t S, int64_t H, int64_t D, const RopeParams& p, bool positions) {
  return rope("rope_backward", -1.0f, B, S, H, D, p, positions);
}

}  // namespace horizon::codegen::cuda
