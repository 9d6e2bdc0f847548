// Unfused elementwise ops: the fallbacks the executor uses where the JIT has
// not fused a chain, and the baselines the fused code is tested against.
// GELU is the tanh approximation (HF "gelu_pytorch_tanh" / "gelu_new").
#include <cmath>
#include <numbers>

#include "runtime/cpu/kernels.h"
#include "runtime/cpu/row_reductions.h"
#include "runtime/thread_pool.h"

namespace horizon::cpu {

namespace {

constexpr int64_t kGrain = 1 << 14;

/// Calls f(i) for every i in [0, n), in parallel chunks.
template <class F>
void for_each_index(int64_t n, F f) {
  runtime::parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) f(i);
  });
}

constexpr float kSqrt2OverPi = static_cast<float>(0.7978845608028654);  // sqrt(2 / pi)
constexpr float kGeluCubic = 0.044715f;

float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

}  // namespace

void add_forward(float* y, const float* a, const float* b, int64_t n) {
  for_each_index(n, [&](int64_t i) { y[i] = a[i] + b[i]; });
}

void mul_forward(float* y, const float* a, const float* b, int64_t n) {
  for_each_index(n, [&](int64_t i) { y[i] = a[i] * b[i]; });
}

void bias_add_forward(float* y, const float* x, const float* bias, int64_t N, int64_t C) {
  runtime::parallel_for(N, rows::grain_rows(C), [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n)
      for (int64_t c = 0; c < C; ++c) y[n * C + c] = x[n * C + c] + bias[c];
  });
}

void silu_forward(float* y, const float* x, int64_t n) {
  for_each_index(n, [&](int64_t i) { y[i] = x[i] * sigmoid(x[i]); });
}

void silu_backward(float* dx, const float* dy, const float* x, int64_t n) {
  // d/dx x s(x) = s + x s (1 - s).
  for_each_index(n, [&](int64_t i) {
    const float s = sigmoid(x[i]);
    dx[i] = dy[i] * (s * (1.0f + x[i] * (1.0f - s)));
  });
}

void gelu_forward(float* y, const float* x, int64_t n) {
  for_each_index(n, [&](int64_t i) {
    const float v = x[i];
    y[i] = 0.5f * v * (1.0f + std::tanh(kSqrt2OverPi * (v + kGeluCubic * v * v * v)));
  });
}

void gelu_backward(float* dx, const float* dy, const float* x, int64_t n) {
  // With u = k (x + c x^3), t = tanh(u): d/dx 0.5 x (1 + t) = 0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3 c x^2).
  for_each_index(n, [&](int64_t i) {
    const float v = x[i];
    const float t = std::tanh(kSqrt2OverPi * (v + kGeluCubic * v * v * v));
    const float du = kSqrt2OverPi * (1.0f + 3.0f * kGeluCubic * v * v);
    dx[i] = dy[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du);
  });
}

}  // namespace horizon::cpu
