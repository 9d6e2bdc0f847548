// Shared by the 8-bit moment tests (tests/moments8_test.cpp on the CPU,
// tests/cuda_moments8_test.cpp on the GPU): optimizer state with 8-bit
// moments, a scalar reference of the block-wise AdamW step written from
// support/moment_quantization.h and the JIT's operation order (std::fma where
// the JIT emits llvm.fmuladd), and a comparison that names the first
// differences byte by byte.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "codegen/cpu/cpu_jit.h"
#include "support/bf16.h"
#include "support/moment_quantization.h"

namespace horizon::testing {

struct Q8State {
  std::vector<uint16_t> hi, lo;
  std::vector<uint8_t> m, v;
  std::vector<float> m_scale, v_scale;
  int64_t size() const { return static_cast<int64_t>(hi.size()); }
};

/// Random weights and fp32 moments spread over decades (as Adam's are),
/// quantized block by block; gradients with a special value every few lanes
/// when `specials`.
inline Q8State random_q8_state(int64_t n, std::vector<float>& grad, uint32_t seed, bool specials) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> decades(-6.0f, 0.0f);
  Q8State s;
  std::vector<float> m(static_cast<size_t>(n)), v(static_cast<size_t>(n));
  grad.resize(static_cast<size_t>(n));
  const float special_g[] = {0.0f, -0.0f, 1e20f, -1e-41f, std::nanf("")};
  for (int64_t i = 0; i < n; ++i) {
    const MasterPlanes p = split_master(normal(rng) * 0.05f);
    s.hi.push_back(p.hi), s.lo.push_back(p.lo);
    m[i] = normal(rng) * 1e-3f * std::pow(10.0f, decades(rng));
    v[i] = std::fabs(normal(rng)) * 1e-3f * std::pow(10.0f, decades(rng));  // sqrt(v), as stored
    grad[i] = normal(rng) * 1e-2f;
    if (specials && i % 97 == 13) grad[i] = special_g[(i / 97) % 5];
  }
  const int64_t blocks = moment_blocks(n);
  s.m.resize(static_cast<size_t>(n)), s.v.resize(static_cast<size_t>(n));
  s.m_scale.resize(static_cast<size_t>(blocks)), s.v_scale.resize(static_cast<size_t>(blocks));
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t first = b * kMomentBlock, len = std::min(kMomentBlock, n - first);
    quantize_block(signed_dynamic_map(), &m[first], len, &s.m[first], &s.m_scale[b]);
    quantize_block(unsigned_dynamic_map(), &v[first], len, &s.v[first], &s.v_scale[b]);
  }
  return s;
}

/// The block-wise AdamW step, one element at a time in the JIT's order.
inline void reference_adamw_q8(Q8State& s, const std::vector<float>& grad, const codegen::cpu::AdamWParams& p) {
  const float neg_lr = -p.lr, omb1 = 1.0f - p.beta1, omb2 = 1.0f - p.beta2;
  const float inv_bc1 = 1.0f / p.bias_correction1, inv_bc2 = 1.0f / p.bias_correction2;
  const int64_t n = s.size();
  std::vector<float> new_m(kMomentBlock), new_v(kMomentBlock);
  for (int64_t b = 0; b < moment_blocks(n); ++b) {
    const int64_t first = b * kMomentBlock, len = std::min(kMomentBlock, n - first);
    for (int64_t k = 0; k < len; ++k) {
      const int64_t i = first + k;
      const float w = join_master(s.hi[i], s.lo[i]);
      const float g = grad[i] * p.grad_scale;
      const float m_old = signed_dynamic_map().values[s.m[i]] * s.m_scale[b];
      const float v_root = unsigned_dynamic_map().values[s.v[i]] * s.v_scale[b];
      const float v_old = v_root * v_root;
      const float m = std::fma(p.beta1, m_old, omb1 * g);
      const float v = std::fma(p.beta2, v_old, (omb2 * g) * g);
      const float denom = std::sqrt(v * inv_bc2) + p.eps;
      const float adam = (m * inv_bc1) / denom;
      const float update = std::fma(p.weight_decay, w, adam);
      const MasterPlanes planes = split_master(std::fma(neg_lr, update, w));
      s.hi[i] = planes.hi, s.lo[i] = planes.lo;
      new_m[k] = m, new_v[k] = std::sqrt(v);
    }
    quantize_block(signed_dynamic_map(), new_m.data(), len, &s.m[first], &s.m_scale[b]);
    quantize_block(unsigned_dynamic_map(), new_v.data(), len, &s.v[first], &s.v_scale[b]);
  }
}

/// "" when both states hold the same bytes (a NaN weight or scale matches
/// any NaN: x86 and the GPU make different default NaNs); else the count and
/// the first five differences.
inline std::string compare_q8(const Q8State& got, const Q8State& want) {
  std::string out;
  int wrong = 0;
  auto fail = [&](const std::string& what) {
    if (++wrong <= 5) out += "  " + what + "\n";
  };
  if (got.size() != want.size()) return "sizes differ";
  for (int64_t i = 0; i < got.size(); ++i) {
    const float a = join_master(got.hi[i], got.lo[i]), b = join_master(want.hi[i], want.lo[i]);
    const bool nan = std::isnan(a) && std::isnan(b);
    if (!nan && (got.hi[i] != want.hi[i] || got.lo[i] != want.lo[i]))
      fail("w[" + std::to_string(i) + "] " + std::to_string(a) + " want " + std::to_string(b));
    if (got.m[i] != want.m[i])
      fail("m code [" + std::to_string(i) + "] " + std::to_string(got.m[i]) + " want " + std::to_string(want.m[i]));
    if (got.v[i] != want.v[i])
      fail("v code [" + std::to_string(i) + "] " + std::to_string(got.v[i]) + " want " + std::to_string(want.v[i]));
  }
  for (size_t b = 0; b < got.m_scale.size(); ++b)
    for (auto [x, y, name] : {std::tuple{got.m_scale[b], want.m_scale[b], "m"}, {got.v_scale[b], want.v_scale[b], "v"}})
      if (std::bit_cast<uint32_t>(x) != std::bit_cast<uint32_t>(y) && !(std::isnan(x) && std::isnan(y)))
        fail(std::string(name) + " scale [" + std::to_string(b) + "] " + std::to_string(x) + " want " +
             std::to_string(y));
  return wrong == 0 ? "" : std::to_string(wrong) + " differences\n" + out;
}

}  // namespace horizon::testing
