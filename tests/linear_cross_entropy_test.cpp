// The lm head fused with the loss on the CPU (linear_cross_entropy and its
// gradient) against the unfused composition of the CPU kernels (linear,
// cross_entropy, its gradient, the two linear gradients) at chunk sizes that
// split N unevenly, down to one row, with masked rows and a fully masked
// chunk; and against the float64 reference op. (Whole lowered models, whose
// heads now use it, are checked against the reference in cpu_model_test.)
// Outputs start as NaN so an element the op skips fails.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "ir/module.h"
#include "runtime/cpu/kernels.h"
#include "runtime/reference/reference_ops.h"

namespace horizon {
namespace {

using F = std::vector<float>;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

/// Relative L2 error; +inf on any non-finite value or a size mismatch.
double rel_l2(const F& got, const std::vector<double>& want) {
  if (got.size() != want.size()) return std::numeric_limits<double>::infinity();
  double diff = 0, norm = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i])) return std::numeric_limits<double>::infinity();
    diff += (got[i] - want[i]) * (got[i] - want[i]);
    norm += want[i] * want[i];
  }
  return norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

std::vector<double> wide(const F& f) { return std::vector<double>(f.begin(), f.end()); }

struct Problem {
  int64_t N, C, V;
  F h, w;
  std::vector<int32_t> targets;

  Problem(int64_t n, int64_t c, int64_t v, std::mt19937& rng) : N(n), C(c), V(v), h(n * c), w(v * c), targets(n) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (float& x : h) x = normal(rng);
    for (float& x : w) x = normal(rng) / std::sqrt(static_cast<float>(c)) * 3.0f;
    std::uniform_int_distribution<int32_t> target(-1, static_cast<int32_t>(v) - 1);
    for (int32_t& t : targets) t = target(rng);
  }
};

/// The unfused composition: loss, dh, dw.
struct Unfused {
  float loss;
  F dh, dw;
};
Unfused unfused(const Problem& p) {
  F logits(p.N * p.V), dlogits(p.N * p.V);
  Unfused u{0, F(p.N * p.C), F(p.V * p.C)};
  cpu::linear_forward(logits.data(), p.h.data(), p.w.data(), p.N, p.C, p.V);
  u.loss = cpu::cross_entropy_forward(logits.data(), p.targets.data(), p.N, p.V);
  cpu::cross_entropy_backward(dlogits.data(), logits.data(), p.targets.data(), p.N, p.V);
  cpu::linear_backward_x(u.dh.data(), dlogits.data(), p.w.data(), p.N, p.C, p.V);
  cpu::linear_backward_w(u.dw.data(), dlogits.data(), p.h.data(), p.N, p.C, p.V);
  return u;
}

TEST(LinearCrossEntropyCpu, EqualsTheUnfusedKernelsAtEveryChunking) {
  std::mt19937 rng(77);
  Problem p(40, 24, 37, rng);
  for (int64_t n = 21; n < 28; ++n) p.targets[n] = -1;  // the 4th chunk of 7 rows is fully masked
  const Unfused want = unfused(p);
  for (int64_t chunk : {1, 7, 16, 39, 40, 64}) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    F dh(p.N * p.C, kNaN), dw(p.V * p.C, kNaN);
    const float loss = cpu::linear_cross_entropy_backward(dh.data(), dw.data(), p.h.data(), p.w.data(),
                                                          p.targets.data(), p.N, p.C, p.V, chunk);
    const float fwd = cpu::linear_cross_entropy_forward(p.h.data(), p.w.data(), p.targets.data(), p.N, p.C, p.V, chunk);
    EXPECT_EQ(loss, fwd) << "forward and backward compute the loss alike";
    EXPECT_NEAR(loss, want.loss, 1e-6 * std::fabs(want.loss));
    EXPECT_LT(rel_l2(dh, wide(want.dh)), 1e-6);
    EXPECT_LT(rel_l2(dw, wide(want.dw)), 1e-6);
    for (int64_t i = 21 * p.C; i < 28 * p.C; ++i) ASSERT_EQ(dh[i], 0.0f) << "masked row element " << i;
    // Deterministic: the same call gives the same bits.
    F dh2(p.N * p.C), dw2(p.V * p.C);
    EXPECT_EQ(cpu::linear_cross_entropy_backward(dh2.data(), dw2.data(), p.h.data(), p.w.data(), p.targets.data(), p.N,
                                                 p.C, p.V, chunk),
              loss);
    EXPECT_EQ(dh2, dh);
    EXPECT_EQ(dw2, dw);
  }
}

TEST(LinearCrossEntropyCpu, MatchesTheFloat64Reference) {
  std::mt19937 rng(5);
  Problem p(33, 16, 300, rng);
  reference::RefTensor h = reference::RefTensor::zeros({3, 11, 16}), w = reference::RefTensor::zeros({300, 16});
  h.data = wide(p.h);
  w.data = wide(p.w);
  const reference::RefTensor t = reference::RefTensor::integers({3, 11}, p.targets);
  const ir::Attrs attrs{{"chunk", int64_t{8}}};
  const auto want = reference::reference_op(ir::Op::linear_cross_entropy_grad, {&h, &w, &t}, attrs);
  ASSERT_EQ(want.size(), 3u);
  EXPECT_EQ(reference::reference_op(ir::Op::linear_cross_entropy, {&h, &w, &t}, attrs).at(0).data, want[0].data);
  F dh(p.N * p.C, kNaN), dw(p.V * p.C, kNaN);
  const float loss = cpu::linear_cross_entropy_backward(dh.data(), dw.data(), p.h.data(), p.w.data(), p.targets.data(),
                                                        p.N, p.C, p.V, 8);
  EXPECT_LT(rel_l2({loss}, want[0].data), 1e-5);
  EXPECT_LT(rel_l2(dh, want[1].data), 1e-5);
  EXPECT_LT(rel_l2(dw, want[2].data), 1e-5);
}

TEST(LinearCrossEntropyCpu, EveryRowMaskedGivesZeros) {
  std::mt19937 rng(9);
  Problem p(20, 8, 11, rng);
  std::fill(p.targets.begin(), p.targets.end(), -1);
  F dh(p.N * p.C, kNaN), dw(p.V * p.C, kNaN);
  EXPECT_EQ(cpu::linear_cross_entropy_backward(dh.data(), dw.data(), p.h.data(), p.w.data(), p.targets.data(), p.N, p.C,
                                               p.V, 16),
            0.0f);
  for (float d : dh) ASSERT_EQ(d, 0.0f);
  for (float d : dw) ASSERT_EQ(d, 0.0f);
  EXPECT_EQ(cpu::linear_cross_entropy_forward(p.h.data(), p.w.data(), p.targets.data(), p.N, p.C, p.V, 16), 0.0f);
}

}  // namespace
}  // namespace horizon
