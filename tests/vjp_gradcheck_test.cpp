// Finite-difference checks, in float64, of every VJP rule autodiff uses: for
// each forward op f and its backward op(s), with random inputs x and a random
// cotangent dy, the directional derivative <dy, f(x + h u) - f(x - h u)> / 2h
// must match <grad, u> for a random direction u per differentiable input and
// for a few single coordinates. This validates the reference's backward ops
// mathematically, which in turn is what the fp32 kernels are held to.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "runtime/reference/reference_ops.h"

namespace horizon {
namespace {

using ir::Op;
using reference::RefTensor;

constexpr double kStep = 1e-6;
constexpr double kTolerance = 1e-6;

/// Gradients w.r.t. the inputs listed in `wrt`, in that order, for cotangent dy.
using VjpRule = std::function<std::vector<RefTensor>(const RefTensor& dy, const std::vector<RefTensor>& x)>;

struct VjpCase {
  std::string name;
  Op forward;
  ir::Attrs attrs;
  std::vector<RefTensor> inputs;
  std::vector<int> wrt;
  VjpRule rule;
};

RefTensor eval(Op op, const std::vector<const RefTensor*>& in, const ir::Attrs& attrs = {}, int index = 0) {
  return reference::reference_op(op, in, attrs).at(index);
}

RefTensor forward(const VjpCase& c, const std::vector<RefTensor>& x) {
  std::vector<const RefTensor*> in;
  for (const RefTensor& t : x) in.push_back(&t);
  return eval(c.forward, in, c.attrs);
}

RefTensor random_tensor(std::vector<int64_t> shape, std::mt19937& rng, double scale = 1.0, double offset = 0.0) {
  RefTensor t = RefTensor::zeros(std::move(shape));
  std::normal_distribution<double> normal(0.0, 1.0);
  for (double& v : t.data) v = offset + scale * normal(rng);
  return t;
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

/// The worst relative error of the rule over every differentiable input: one
/// random direction each, then three random coordinates each. A coordinate
/// whose gradient is tiny next to the input's typical gradient is judged
/// against 1% of that typical size, where relative error means nothing.
double vjp_error(const VjpCase& c, std::mt19937& rng, std::string* detail) {
  const RefTensor y = forward(c, c.inputs);
  const RefTensor dy = random_tensor(y.shape, rng);
  const std::vector<RefTensor> grads = c.rule(dy, c.inputs);
  if (grads.size() != c.wrt.size()) return INFINITY;
  double worst = 0;
  for (size_t g = 0; g < c.wrt.size(); ++g) {
    const RefTensor& x = c.inputs[c.wrt[g]];
    if (grads[g].shape != x.shape || grads[g].data.size() != x.data.size()) return INFINITY;
    double typical = 0;
    for (double v : grads[g].data) typical += v * v;
    typical = std::sqrt(typical / std::max<size_t>(1, x.data.size()));

    auto check = [&](const std::vector<double>& u, double floor, const std::string& what) {
      std::vector<RefTensor> plus = c.inputs, minus = c.inputs;
      for (size_t i = 0; i < u.size(); ++i) {
        plus[c.wrt[g]].data[i] += kStep * u[i];
        minus[c.wrt[g]].data[i] -= kStep * u[i];
      }
      const RefTensor yp = forward(c, plus), ym = forward(c, minus);
      double fd = 0;
      for (size_t i = 0; i < dy.data.size(); ++i) fd += dy.data[i] * (yp.data[i] - ym.data[i]);
      fd /= 2 * kStep;
      const double an = dot(grads[g].data, u);
      const double err = std::abs(fd - an) / std::max({std::abs(fd), std::abs(an), floor, 1e-300});
      if (!(err <= worst)) {  // also catches NaN
        worst = std::isnan(err) ? INFINITY : err;
        char numbers[96];
        std::snprintf(numbers, sizeof numbers, ": finite difference %.12g vs rule %.12g", fd, an);
        *detail = c.name + " input " + std::to_string(c.wrt[g]) + " " + what + numbers;
      }
    };
    std::normal_distribution<double> normal(0.0, 1.0);
    std::vector<double> u(x.data.size());
    for (double& v : u) v = normal(rng);
    check(u, 0.0, "random direction");
    std::uniform_int_distribution<size_t> pick(0, x.data.size() - 1);
    for (int k = 0; k < 3; ++k) {
      std::fill(u.begin(), u.end(), 0.0);
      const size_t i = pick(rng);
      u[i] = 1.0;
      check(u, 0.01 * typical, "coordinate " + std::to_string(i));
    }
  }
  return worst;
}

class VjpGradcheck : public ::testing::Test {
 protected:
  void expect_rule_holds(const VjpCase& c) {
    std::string detail;
    const double err = vjp_error(c, rng, &detail);
    EXPECT_LT(err, kTolerance) << detail;
    std::printf("[ vjp      ] %-36s worst relative error %.2g\n", c.name.c_str(), err);
  }
  std::mt19937 rng{99};
};

/// The rule that calls one backward op on (dy, the forward inputs picked by
/// `operands`) and returns its results `results`.
VjpRule backward_op(Op op, ir::Attrs attrs, std::vector<int> operands, std::vector<int> results) {
  return [=](const RefTensor& dy, const std::vector<RefTensor>& x) {
    std::vector<const RefTensor*> in{&dy};
    for (int i : operands) in.push_back(&x[i]);
    std::vector<RefTensor> all = reference::reference_op(op, in, attrs), out;
    for (int r : results) out.push_back(all.at(r));
    return out;
  };
}

TEST_F(VjpGradcheck, AddAndMul) {
  const RefTensor a = random_tensor({2, 3, 5}, rng), b = random_tensor({2, 3, 5}, rng);
  expect_rule_holds({"add", Op::add, {}, {a, b}, {0, 1}, [](const RefTensor& dy, const std::vector<RefTensor>&) {
                       return std::vector{dy, dy};
                     }});
  expect_rule_holds({"mul", Op::mul, {}, {a, b}, {0, 1}, [](const RefTensor& dy, const std::vector<RefTensor>& x) {
                       return std::vector{eval(Op::mul, {&dy, &x[1]}), eval(Op::mul, {&dy, &x[0]})};
                     }});
}

TEST_F(VjpGradcheck, BiasAdd) {
  expect_rule_holds({"bias_add",
                     Op::bias_add,
                     {},
                     {random_tensor({2, 3, 7}, rng), random_tensor({7}, rng)},
                     {0, 1},
                     [](const RefTensor& dy, const std::vector<RefTensor>&) {
                       return std::vector{dy, eval(Op::bias_add_grad, {&dy})};
                     }});
}

TEST_F(VjpGradcheck, SiluAndGelu) {
  const RefTensor x = random_tensor({2, 5, 7}, rng, 3.0);
  expect_rule_holds({"silu", Op::silu, {}, {x}, {0}, backward_op(Op::silu_grad, {}, {0}, {0})});
  expect_rule_holds({"gelu", Op::gelu, {}, {x}, {0}, backward_op(Op::gelu_grad, {}, {0}, {0})});
}

TEST_F(VjpGradcheck, Linear) {
  for (std::vector<int64_t> xs : {std::vector<int64_t>{2, 3, 7}, std::vector<int64_t>{4, 1}}) {
    const RefTensor x = random_tensor(xs, rng), w = random_tensor({5, xs.back()}, rng);
    expect_rule_holds(
        {"linear", Op::linear, {}, {x, w}, {0, 1}, [](const RefTensor& dy, const std::vector<RefTensor>& in) {
           return std::vector{eval(Op::linear_grad_x, {&dy, &in[1]}), eval(Op::linear_grad_w, {&dy, &in[0]})};
         }});
  }
}

TEST_F(VjpGradcheck, RmsNormAndLayerNorm) {
  for (int64_t C : {int64_t{1}, int64_t{7}, int64_t{33}}) {
    // At C = 1 with a tiny eps, RMSNorm is nearly sign(x) and its x-derivative
    // (~eps / x^3) drowns in the finite difference's rounding; a large eps
    // keeps the same rule measurable.
    const ir::Attrs eps{{"eps", C == 1 ? 0.5 : 1e-5}};
    const RefTensor x = random_tensor({2, 3, C}, rng, 1.0, 0.3), w = random_tensor({C}, rng, 0.5, 1.0);
    const RefTensor b = random_tensor({C}, rng);
    expect_rule_holds({"rms_norm C=" + std::to_string(C),
                       Op::rms_norm,
                       eps,
                       {x, w},
                       {0, 1},
                       backward_op(Op::rms_norm_grad, eps, {0, 1}, {0, 1})});
    if (C == 1) continue;  // LayerNorm of one channel is the constant b: nothing to differentiate but b
    expect_rule_holds({"layer_norm C=" + std::to_string(C),
                       Op::layer_norm,
                       eps,
                       {x, w, b},
                       {0, 1, 2},
                       backward_op(Op::layer_norm_grad, eps, {0, 1}, {0, 1, 2})});
  }
}

// Qwen3's per-head q/k norm: each group of group_size elements of the last
// dim is normalized on its own, the weight shared by the groups.
TEST_F(VjpGradcheck, RmsNormPerGroup) {
  for (int64_t G : {int64_t{4}, int64_t{12}}) {
    const ir::Attrs attrs{{"eps", 1e-6}, {"group_size", G}};
    const RefTensor x = random_tensor({2, 3, 12}, rng, 1.0, 0.3), w = random_tensor({G}, rng, 0.5, 1.0);
    expect_rule_holds({"rms_norm group_size=" + std::to_string(G),
                       Op::rms_norm,
                       attrs,
                       {x, w},
                       {0, 1},
                       backward_op(Op::rms_norm_grad, attrs, {0, 1}, {0, 1})});
  }
}

TEST_F(VjpGradcheck, Rope) {
  const ir::Attrs plain{{"heads", 4}, {"head_dim", 8}, {"theta", 10000.0}};
  ir::Attrs llama3 = plain, linear = plain;
  llama3["theta"] = 500000.0;
  llama3["scaling_factor"] = 8.0;
  llama3["low_freq_factor"] = 1.0;
  llama3["high_freq_factor"] = 4.0;
  llama3["original_max_positions"] = int64_t{8192};
  linear["scaling_factor"] = 4.0;
  const RefTensor x = random_tensor({2, 5, 32}, rng);
  for (const auto& [name, attrs] :
       {std::pair{"rope", plain}, std::pair{"rope llama3", llama3}, std::pair{"rope linear", linear}})
    expect_rule_holds({name, Op::rope, attrs, {x}, {0}, backward_op(Op::rope_grad, attrs, {}, {0})});
}

TEST_F(VjpGradcheck, Attention) {
  struct Case {
    int64_t B, S, H, KVH, D, window;
  };
  for (Case c : {Case{2, 5, 4, 2, 8, 0}, Case{1, 6, 4, 1, 4, 3}, Case{1, 17, 2, 2, 4, 0}, Case{2, 1, 2, 1, 8, 0}}) {
    ir::Attrs attrs{{"heads", c.H}, {"kv_heads", c.KVH}, {"head_dim", c.D}};
    if (c.window > 0) attrs["window"] = c.window;
    const RefTensor q = random_tensor({c.B, c.S, c.H * c.D}, rng), k = random_tensor({c.B, c.S, c.KVH * c.D}, rng);
    const RefTensor v = random_tensor({c.B, c.S, c.KVH * c.D}, rng);
    expect_rule_holds({"attention S=" + std::to_string(c.S) + " H=" + std::to_string(c.H) +
                           " KVH=" + std::to_string(c.KVH) + " window=" + std::to_string(c.window),
                       Op::attention,
                       attrs,
                       {q, k, v},
                       {0, 1, 2},
                       backward_op(Op::attention_grad, attrs, {0, 1, 2}, {0, 1, 2})});
  }
}

TEST_F(VjpGradcheck, EmbeddingAndPositions) {
  const RefTensor tokens = RefTensor::integers({2, 4}, {3, 0, 3, 6, 1, 3, 0, 2});
  const RefTensor table = random_tensor({7, 5}, rng);
  expect_rule_holds(
      {"embedding", Op::embedding, {}, {tokens, table}, {1}, backward_op(Op::embedding_grad, {{"rows", 7}}, {0}, {0})});
  const RefTensor x = random_tensor({2, 5, 3}, rng), positions = random_tensor({8, 3}, rng);
  expect_rule_holds({"add_positions",
                     Op::add_positions,
                     {},
                     {x, positions},
                     {0, 1},
                     [](const RefTensor& dy, const std::vector<RefTensor>&) {
                       return std::vector{dy, eval(Op::add_positions_grad, {&dy}, {{"rows", 8}})};
                     }});
}

TEST_F(VjpGradcheck, CrossEntropy) {
  const RefTensor logits = random_tensor({2, 3, 7}, rng, 2.0);
  const RefTensor targets = RefTensor::integers({2, 3}, {4, -1, 0, 6, 6, -1});
  expect_rule_holds({"cross_entropy",
                     Op::cross_entropy,
                     {},
                     {logits, targets},
                     {0},
                     [](const RefTensor& dy, const std::vector<RefTensor>& x) {
                       // The backward op is the gradient of the mean loss; the chain rule scales it by dy.
                       RefTensor g = eval(Op::cross_entropy_grad, {&x[0], &x[1]});
                       for (double& v : g.data) v *= dy.data.at(0);
                       return std::vector{g};
                     }});
}

TEST_F(VjpGradcheck, SequenceLogprobAndDpoLoss) {
  const RefTensor logits = random_tensor({4, 3, 5}, rng, 2.0);
  const RefTensor targets = RefTensor::integers({4, 3}, {1, -1, 4, -1, 0, 2, 3, 3, -1, -1, -1, 1});
  for (int64_t average : {0, 1}) {
    const ir::Attrs a{{"average", average}};
    expect_rule_holds({"sequence_logprob average=" + std::to_string(average),
                       Op::sequence_logprob,
                       a,
                       {logits, targets},
                       {0},
                       [a](const RefTensor& dy, const std::vector<RefTensor>& x) {
                         return std::vector{eval(Op::sequence_logprob_grad, {&dy, &x[0], &x[1]}, a)};
                       }});
  }
  const RefTensor policy = random_tensor({6}, rng, 3.0, -10.0), reference = random_tensor({6}, rng, 3.0, -10.0);
  for (const ir::Attrs& a : {ir::Attrs{{"beta", 0.1}}, ir::Attrs{{"beta", 0.5}, {"label_smoothing", 0.2}},
                             ir::Attrs{{"beta", 0.1}, {"ipo", int64_t{1}}}}) {
    expect_rule_holds({"dpo_loss",
                       Op::dpo_loss,
                       a,
                       {policy, reference},
                       {0, 1},
                       [a](const RefTensor& dy, const std::vector<RefTensor>& x) {
                         std::vector<RefTensor> g = reference::reference_op(Op::dpo_loss_grad, {&x[0], &x[1]}, a);
                         for (RefTensor& t : g)
                           for (double& v : t.data) v *= dy.data.at(0);
                         return g;
                       }});
  }
  // The harness catches a rule that differentiates the wrong loss.
  std::string detail;
  const ir::Attrs sigmoid{{"beta", 0.1}, {"label_smoothing", 0.2}}, ipo{{"beta", 0.1}, {"ipo", int64_t{1}}};
  EXPECT_GT(vjp_error({"dpo_loss with the ipo rule",
                       Op::dpo_loss,
                       sigmoid,
                       {policy, reference},
                       {0, 1},
                       [&](const RefTensor& dy, const std::vector<RefTensor>& x) {
                         std::vector<RefTensor> g = reference::reference_op(Op::dpo_loss_grad, {&x[0], &x[1]}, ipo);
                         for (RefTensor& t : g)
                           for (double& v : t.data) v *= dy.data.at(0);
                         return g;
                       }},
                      rng, &detail),
            1e-3);
}

TEST_F(VjpGradcheck, DetectsWrongRules) {
  // The harness must fail a rule that is wrong, even subtly.
  std::string detail;
  const RefTensor x = random_tensor({3, 4}, rng, 2.0);
  EXPECT_GT(vjp_error({"silu with gelu's rule", Op::silu, {}, {x}, {0}, backward_op(Op::gelu_grad, {}, {0}, {0})}, rng,
                      &detail),
            1e-3);
  const ir::Attrs full{{"heads", 2}, {"kv_heads", 1}, {"head_dim", 4}};
  ir::Attrs windowed = full;
  windowed["window"] = int64_t{2};
  const RefTensor q = random_tensor({1, 6, 8}, rng), k = random_tensor({1, 6, 4}, rng),
                  v = random_tensor({1, 6, 4}, rng);
  EXPECT_GT(vjp_error({"attention grad ignoring the window",
                       Op::attention,
                       windowed,
                       {q, k, v},
                       {0, 1, 2},
                       backward_op(Op::attention_grad, full, {0, 1, 2}, {0, 1, 2})},
                      rng, &detail),
            1e-3);
  const ir::Attrs eps{{"eps", 1e-5}}, big_eps{{"eps", 1e-2}};
  const RefTensor w = random_tensor({4}, rng);
  // A per-head norm differentiated as if the whole row were one group (the
  // weight tiled across the heads, its gradient folded back): wrong.
  const ir::Attrs grouped{{"eps", 1e-5}, {"group_size", int64_t{4}}};
  const RefTensor x8 = random_tensor({3, 8}, rng, 2.0);
  EXPECT_GT(
      vjp_error({"per-head rms_norm with the whole-row rule",
                 Op::rms_norm,
                 grouped,
                 {x8, w},
                 {0, 1},
                 [&](const RefTensor& dy, const std::vector<RefTensor>& in) {
                   RefTensor tiled = RefTensor::zeros({8});
                   for (int i = 0; i < 8; ++i) tiled.data[i] = in[1].data[i % 4];
                   std::vector<RefTensor> g = reference::reference_op(Op::rms_norm_grad, {&dy, &in[0], &tiled}, eps);
                   RefTensor dw = RefTensor::zeros({4});
                   for (int i = 0; i < 8; ++i) dw.data[i % 4] += g[1].data[i];
                   return std::vector{g[0], dw};
                 }},
                rng, &detail),
      1e-3);
  EXPECT_GT(vjp_error({"rms_norm grad with another eps",
                       Op::rms_norm,
                       eps,
                       {x, w},
                       {0, 1},
                       backward_op(Op::rms_norm_grad, big_eps, {0, 1}, {0, 1})},
                      rng, &detail),
            1e-4);
}

}  // namespace
}  // namespace horizon
