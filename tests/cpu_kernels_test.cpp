// Every fp32 CPU kernel, forward and backward, against the float64 reference
// ops on random inputs of awkward sizes (C = 1, 7, 33; S = 1, 5, 17; GQA;
// sliding windows; masked targets). Outputs are poisoned with NaN before each
// call so a kernel that skips an element fails, and the comparison treats any
// non-finite output as an infinite error. Tolerance: relative L2 1e-5.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "ir/module.h"
#include "runtime/cpu/kernels.h"
#include "runtime/reference/reference_ops.h"

namespace horizon {
namespace {

using ir::Op;
using reference::RefTensor;

constexpr double kTolerance = 1e-5;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

/// The same random values as fp32 (kernel input) and widened to double (reference input).
struct Input {
  std::vector<float> f;
  RefTensor ref;
};

Input random_input(std::vector<int64_t> shape, std::mt19937& rng, double scale = 1.0, double offset = 0.0) {
  Input in;
  in.ref = RefTensor::zeros(std::move(shape));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (double& v : in.ref.data) {
    const float f = static_cast<float>(offset + scale * normal(rng));
    in.f.push_back(f);
    v = f;
  }
  return in;
}

std::vector<int32_t> random_ints(int64_t n, int32_t lo, int32_t hi, std::mt19937& rng) {
  std::uniform_int_distribution<int32_t> pick(lo, hi - 1);
  std::vector<int32_t> v(n);
  for (int32_t& t : v) t = pick(rng);
  return v;
}

std::vector<float> poisoned(int64_t n) { return std::vector<float>(n, kNaN); }

/// ||got - want|| / ||want||, or the absolute error where want is exactly zero;
/// +inf when got has a non-finite value or the wrong size, so NaN never passes.
double rel_l2(const std::vector<float>& got, const RefTensor& want) {
  if (static_cast<int64_t>(got.size()) != want.elements()) return std::numeric_limits<double>::infinity();
  double diff = 0, norm = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i]) || !std::isfinite(want.data[i])) return std::numeric_limits<double>::infinity();
    diff += (got[i] - want.data[i]) * (got[i] - want.data[i]);
    norm += want.data[i] * want.data[i];
  }
  return norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

/// Result `index` of a reference op.
RefTensor ref(Op op, std::vector<const RefTensor*> in, const ir::Attrs& attrs = {}, int index = 0) {
  return reference::reference_op(op, in, attrs).at(index);
}

ir::Attrs rope_attrs(int64_t H, int64_t D, const cpu::RopeParams& p) {
  ir::Attrs a{{"heads", H}, {"head_dim", D}, {"theta", p.theta}};
  if (p.scaling_factor > 0) a["scaling_factor"] = p.scaling_factor;
  if (p.low_freq_factor > 0) {
    a["low_freq_factor"] = p.low_freq_factor;
    a["high_freq_factor"] = p.high_freq_factor;
    a["original_max_positions"] = p.original_max_positions;
  }
  return a;
}

class CpuKernels : public ::testing::Test {
 protected:
  /// Worst relative error seen per kernel, printed once the suite ends.
  static std::map<std::string, double>& worst() {
    static std::map<std::string, double> w;
    return w;
  }
  static void TearDownTestSuite() {
    for (const auto& [kernel, err] : worst()) std::printf("[ worst    ] %-24s %.3g\n", kernel.c_str(), err);
  }

  void expect_close(const std::string& kernel, const std::string& where, const std::vector<float>& got,
                    const RefTensor& want) {
    const double err = rel_l2(got, want);
    double& w = worst()[kernel];
    w = std::max(w, err);
    EXPECT_LT(err, kTolerance) << kernel << " " << where;
  }

  std::mt19937 rng{20240611};
};

TEST_F(CpuKernels, ComparisonRejectsNaNAndWrongValues) {
  RefTensor want = RefTensor::zeros({3});
  want.data = {1.0, -2.0, 3.0};
  EXPECT_EQ(rel_l2({1.0f, -2.0f, 3.0f}, want), 0.0);
  EXPECT_EQ(rel_l2({1.0f, kNaN, 3.0f}, want), std::numeric_limits<double>::infinity());
  EXPECT_GT(rel_l2({1.0f, -2.0f, 3.001f}, want), kTolerance);
  EXPECT_EQ(rel_l2({1.0f, -2.0f}, want), std::numeric_limits<double>::infinity());
  // A kernel that leaves its poisoned output untouched must fail.
  EXPECT_EQ(rel_l2(poisoned(3), want), std::numeric_limits<double>::infinity());
}

TEST_F(CpuKernels, Linear) {
  struct Case {
    int64_t N, I, O;
  };
  for (Case c : {Case{1, 1, 1}, Case{5, 7, 3}, Case{17, 33, 300}, Case{34, 64, 7}, Case{3, 256, 33}}) {
    const std::string where = "N=" + std::to_string(c.N) + " I=" + std::to_string(c.I) + " O=" + std::to_string(c.O);
    Input x = random_input({c.N, c.I}, rng), w = random_input({c.O, c.I}, rng), dy = random_input({c.N, c.O}, rng);
    std::vector<float> y = poisoned(c.N * c.O), dx = poisoned(c.N * c.I), dw = poisoned(c.O * c.I), db = poisoned(c.O);
    cpu::linear_forward(y.data(), x.f.data(), w.f.data(), c.N, c.I, c.O);
    cpu::linear_backward_x(dx.data(), dy.f.data(), w.f.data(), c.N, c.I, c.O);
    cpu::linear_backward_w(dw.data(), dy.f.data(), x.f.data(), c.N, c.I, c.O);
    cpu::bias_backward(db.data(), dy.f.data(), c.N, c.O);
    expect_close("linear_forward", where, y, ref(Op::linear, {&x.ref, &w.ref}));
    expect_close("linear_backward_x", where, dx, ref(Op::linear_grad_x, {&dy.ref, &w.ref}));
    expect_close("linear_backward_w", where, dw, ref(Op::linear_grad_w, {&dy.ref, &x.ref}));
    expect_close("bias_backward", where, db, ref(Op::bias_add_grad, {&dy.ref}));
  }
}

TEST_F(CpuKernels, RmsNormAndLayerNorm) {
  struct Case {
    int64_t N, C;
    float eps;
  };
  for (Case c : {Case{1, 1, 1e-5f}, Case{5, 7, 1e-6f}, Case{17, 33, 1e-5f}, Case{34, 256, 1e-6f}, Case{70, 8, 1e-5f},
                 Case{3, 1, 1e-6f}}) {
    const std::string where = "N=" + std::to_string(c.N) + " C=" + std::to_string(c.C);
    const ir::Attrs attrs{{"eps", static_cast<double>(c.eps)}};
    // An offset makes the LayerNorm centering matter.
    Input x = random_input({c.N, c.C}, rng, 1.0, 0.5), w = random_input({c.C}, rng, 0.5, 1.0);
    Input b = random_input({c.C}, rng), dy = random_input({c.N, c.C}, rng);
    std::vector<float> y = poisoned(c.N * c.C), dx = poisoned(c.N * c.C), dw = poisoned(c.C), db = poisoned(c.C);

    cpu::rms_norm_forward(y.data(), x.f.data(), w.f.data(), c.N, c.C, c.eps);
    cpu::rms_norm_backward(dx.data(), dw.data(), dy.f.data(), x.f.data(), w.f.data(), c.N, c.C, c.eps);
    expect_close("rms_norm_forward", where, y, ref(Op::rms_norm, {&x.ref, &w.ref}, attrs));
    expect_close("rms_norm_backward dx", where, dx, ref(Op::rms_norm_grad, {&dy.ref, &x.ref, &w.ref}, attrs, 0));
    expect_close("rms_norm_backward dw", where, dw, ref(Op::rms_norm_grad, {&dy.ref, &x.ref, &w.ref}, attrs, 1));

    y = poisoned(c.N * c.C), dx = poisoned(c.N * c.C), dw = poisoned(c.C);
    cpu::layer_norm_forward(y.data(), x.f.data(), w.f.data(), b.f.data(), c.N, c.C, c.eps);
    cpu::layer_norm_backward(dx.data(), dw.data(), db.data(), dy.f.data(), x.f.data(), w.f.data(), c.N, c.C, c.eps);
    const std::vector<RefTensor> grads = reference::reference_op(Op::layer_norm_grad, {&dy.ref, &x.ref, &w.ref}, attrs);
    expect_close("layer_norm_forward", where, y, ref(Op::layer_norm, {&x.ref, &w.ref, &b.ref}, attrs));
    expect_close("layer_norm_backward dx", where, dx, grads[0]);
    expect_close("layer_norm_backward dw", where, dw, grads[1]);
    expect_close("layer_norm_backward db", where, db, grads[2]);
  }
}

/// Llama 3.1 8B's rope: theta 500000, factor 8, low/high 1/4, 8192 original positions.
cpu::RopeParams llama31_rope() {
  cpu::RopeParams p;
  p.theta = 500000.0;
  p.scaling_factor = 8.0;
  p.low_freq_factor = 1.0;
  p.high_freq_factor = 4.0;
  p.original_max_positions = 8192.0;
  return p;
}

TEST_F(CpuKernels, Rope) {
  cpu::RopeParams linear;
  linear.theta = 1e6;
  linear.scaling_factor = 4.0;
  struct Case {
    int64_t B, S, H, D;
  };
  for (const cpu::RopeParams& p : {cpu::RopeParams{}, llama31_rope(), linear})
    for (Case c : {Case{1, 1, 1, 8}, Case{2, 5, 4, 8}, Case{1, 17, 2, 64}, Case{2, 300, 1, 64}}) {
      const std::string where = "B=" + std::to_string(c.B) + " S=" + std::to_string(c.S) + " H=" + std::to_string(c.H) +
                                " D=" + std::to_string(c.D) + " theta=" + std::to_string(p.theta);
      const ir::Attrs attrs = rope_attrs(c.H, c.D, p);
      const int64_t n = c.B * c.S * c.H * c.D;
      Input x = random_input({c.B, c.S, c.H * c.D}, rng);
      std::vector<float> y = poisoned(n), dx = poisoned(n);
      cpu::rope_forward(y.data(), x.f.data(), c.B, c.S, c.H, c.D, p);
      cpu::rope_backward(dx.data(), x.f.data(), c.B, c.S, c.H, c.D, p);
      expect_close("rope_forward", where, y, ref(Op::rope, {&x.ref}, attrs));
      expect_close("rope_backward", where, dx, ref(Op::rope_grad, {&x.ref}, attrs));
    }
}

TEST_F(CpuKernels, RopeInvFreqMatchesHuggingFaceLlama3) {
  // transformers' _compute_llama3_parameters for Llama 3.1 8B (head_dim 128),
  // evaluated in float64: index 0..28 unscaled, 29..34 blended, 35.. divided by 8.
  const std::vector<std::pair<int, double>> hf = {
      {0, 1.0},
      {16, 0.037606030930863933},
      {28, 0.0032114459947525913},
      {29, 0.0021665707635033591},
      {31, 0.00085675141291963208},
      {34, 0.00017850781276799638},
      {36, 7.7846552739324498e-05},
      {60, 5.6770881007598369e-07},
  };
  std::vector<double> inv_freq(64, std::nan(""));
  cpu::rope_inv_freq(inv_freq.data(), 128, llama31_rope());
  for (const auto& [i, want] : hf) EXPECT_NEAR(inv_freq[i], want, 1e-12 * want) << "inv_freq[" << i << "]";
  // Linear scaling divides every frequency (HF divides inv_freq by the factor).
  cpu::RopeParams lin;
  lin.theta = 10000.0;
  lin.scaling_factor = 2.0;
  cpu::rope_inv_freq(inv_freq.data(), 8, lin);
  EXPECT_NEAR(inv_freq[1], std::pow(10000.0, -0.25) / 2.0, 1e-15);
}

TEST_F(CpuKernels, Attention) {
  struct Case {
    int64_t B, S, H, KVH, D, window;
  };
  for (Case c : {Case{1, 1, 1, 1, 8, 0}, Case{2, 5, 4, 2, 8, 0}, Case{1, 17, 4, 1, 64, 0}, Case{2, 17, 4, 2, 8, 3},
                 Case{1, 33, 2, 2, 64, 0}, Case{1, 70, 4, 2, 8, 0}, Case{1, 70, 2, 1, 8, 20}, Case{2, 5, 4, 4, 8, 100},
                 Case{1, 17, 4, 2, 8, 1}}) {
    const std::string where = "B=" + std::to_string(c.B) + " S=" + std::to_string(c.S) + " H=" + std::to_string(c.H) +
                              " KVH=" + std::to_string(c.KVH) + " D=" + std::to_string(c.D) +
                              " window=" + std::to_string(c.window);
    ir::Attrs attrs{{"heads", c.H}, {"kv_heads", c.KVH}, {"head_dim", c.D}};
    if (c.window > 0) attrs["window"] = c.window;
    const int64_t nq = c.B * c.S * c.H * c.D, nkv = c.B * c.S * c.KVH * c.D;
    // Scaled so the softmax is far from uniform and the mask matters.
    Input q = random_input({c.B, c.S, c.H * c.D}, rng, 2.0), k = random_input({c.B, c.S, c.KVH * c.D}, rng, 2.0);
    Input v = random_input({c.B, c.S, c.KVH * c.D}, rng), dout = random_input({c.B, c.S, c.H * c.D}, rng);
    std::vector<float> out = poisoned(nq), dq = poisoned(nq), dk = poisoned(nkv), dv = poisoned(nkv);
    cpu::attention_forward(out.data(), q.f.data(), k.f.data(), v.f.data(), c.B, c.S, c.H, c.KVH, c.D, c.window);
    cpu::attention_backward(dq.data(), dk.data(), dv.data(), dout.f.data(), q.f.data(), k.f.data(), v.f.data(), c.B,
                            c.S, c.H, c.KVH, c.D, c.window);
    const auto grads = reference::reference_op(Op::attention_grad, {&dout.ref, &q.ref, &k.ref, &v.ref}, attrs);
    expect_close("attention_forward", where, out, ref(Op::attention, {&q.ref, &k.ref, &v.ref}, attrs));
    expect_close("attention_backward dq", where, dq, grads[0]);
    expect_close("attention_backward dk", where, dk, grads[1]);
    expect_close("attention_backward dv", where, dv, grads[2]);
  }
}

TEST_F(CpuKernels, AttentionBackwardIsBitwiseRepeatable) {
  const int64_t B = 2, S = 40, H = 4, KVH = 2, D = 8;
  Input q = random_input({B, S, H * D}, rng), k = random_input({B, S, KVH * D}, rng);
  Input v = random_input({B, S, KVH * D}, rng), dout = random_input({B, S, H * D}, rng);
  std::vector<float> first[3], second[3];
  for (auto* run : {first, second}) {
    run[0] = poisoned(B * S * H * D), run[1] = poisoned(B * S * KVH * D), run[2] = poisoned(B * S * KVH * D);
    cpu::attention_backward(run[0].data(), run[1].data(), run[2].data(), dout.f.data(), q.f.data(), k.f.data(),
                            v.f.data(), B, S, H, KVH, D, 0);
  }
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(std::memcmp(first[i].data(), second[i].data(), first[i].size() * sizeof(float)), 0) << "output " << i;
}

TEST_F(CpuKernels, EmbeddingAndPositions) {
  struct Case {
    int64_t N, C, V;
  };
  for (Case c : {Case{1, 1, 7}, Case{5, 7, 7}, Case{17, 33, 300}, Case{64, 8, 3}}) {
    const std::string where = "N=" + std::to_string(c.N) + " C=" + std::to_string(c.C) + " V=" + std::to_string(c.V);
    // Few distinct tokens relative to N, so rows repeat and the scatter-add sums.
    const RefTensor tokens = RefTensor::integers({c.N}, random_ints(c.N, 0, static_cast<int32_t>(c.V), rng));
    Input table = random_input({c.V, c.C}, rng), dy = random_input({c.N, c.C}, rng);
    std::vector<float> y = poisoned(c.N * c.C), dtable = poisoned(c.V * c.C);
    cpu::embedding_forward(y.data(), tokens.ints.data(), table.f.data(), c.N, c.C);
    cpu::embedding_backward(dtable.data(), dy.f.data(), tokens.ints.data(), c.N, c.C, c.V);
    expect_close("embedding_forward", where, y, ref(Op::embedding, {&tokens, &table.ref}));
    expect_close("embedding_backward", where, dtable, ref(Op::embedding_grad, {&dy.ref, &tokens}, {{"rows", c.V}}));
  }
  struct PosCase {
    int64_t B, S, C, P;
  };
  for (PosCase c : {PosCase{3, 1, 1, 4}, PosCase{2, 5, 7, 9}, PosCase{1, 17, 33, 17}, PosCase{4, 17, 8, 40}}) {
    const std::string where = "B=" + std::to_string(c.B) + " S=" + std::to_string(c.S) + " C=" + std::to_string(c.C) +
                              " P=" + std::to_string(c.P);
    Input x = random_input({c.B, c.S, c.C}, rng), table = random_input({c.P, c.C}, rng);
    Input dy = random_input({c.B, c.S, c.C}, rng);
    std::vector<float> y = poisoned(c.B * c.S * c.C), dtable = poisoned(c.P * c.C);
    cpu::add_positions_forward(y.data(), x.f.data(), table.f.data(), c.B, c.S, c.C);
    cpu::add_positions_backward(dtable.data(), dy.f.data(), c.B, c.S, c.C, c.P);
    expect_close("add_positions_forward", where, y, ref(Op::add_positions, {&x.ref, &table.ref}));
    expect_close("add_positions_backward", where, dtable, ref(Op::add_positions_grad, {&dy.ref}, {{"rows", c.P}}));
  }
}

TEST_F(CpuKernels, CrossEntropy) {
  struct Case {
    int64_t N, V;
    double scale;
    int32_t lowest_target;
  };
  // lowest_target -1 masks about 1/V of the rows; -3 masks most of them at V = 7.
  for (Case c : {Case{1, 7, 1.0, 0}, Case{5, 7, 3.0, -1}, Case{17, 300, 1.0, -1}, Case{34, 300, 30.0, -1},
                 Case{20, 7, 1.0, -3}}) {
    const std::string where =
        "N=" + std::to_string(c.N) + " V=" + std::to_string(c.V) + " scale=" + std::to_string(c.scale);
    Input logits = random_input({c.N, c.V}, rng, c.scale);
    RefTensor targets = RefTensor::integers({c.N}, random_ints(c.N, c.lowest_target, static_cast<int32_t>(c.V), rng));
    if (c.lowest_target < 0) targets.ints[0] = -1;  // at least one masked row
    std::vector<float> loss{cpu::cross_entropy_forward(logits.f.data(), targets.ints.data(), c.N, c.V)};
    std::vector<float> dlogits = poisoned(c.N * c.V);
    cpu::cross_entropy_backward(dlogits.data(), logits.f.data(), targets.ints.data(), c.N, c.V);
    expect_close("cross_entropy_forward", where, loss, ref(Op::cross_entropy, {&logits.ref, &targets}));
    expect_close("cross_entropy_backward", where, dlogits, ref(Op::cross_entropy_grad, {&logits.ref, &targets}));
  }
  // Every row masked: loss 0 and a zero gradient, never 0/0.
  Input logits = random_input({4, 7}, rng);
  const std::vector<int32_t> none(4, -1);
  EXPECT_EQ(cpu::cross_entropy_forward(logits.f.data(), none.data(), 4, 7), 0.0f);
  std::vector<float> dlogits = poisoned(28);
  cpu::cross_entropy_backward(dlogits.data(), logits.f.data(), none.data(), 4, 7);
  for (float d : dlogits) EXPECT_EQ(d, 0.0f);
}

TEST_F(CpuKernels, Elementwise) {
  for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{1000}, int64_t{100003}}) {
    const std::string where = "n=" + std::to_string(n);
    // Wide range so silu and gelu see both tails.
    Input a = random_input({n}, rng, 4.0), b = random_input({n}, rng), dy = random_input({n}, rng);
    std::vector<float> y = poisoned(n);
    cpu::add_forward(y.data(), a.f.data(), b.f.data(), n);
    expect_close("add_forward", where, y, ref(Op::add, {&a.ref, &b.ref}));
    y = poisoned(n);
    cpu::mul_forward(y.data(), a.f.data(), b.f.data(), n);
    expect_close("mul_forward", where, y, ref(Op::mul, {&a.ref, &b.ref}));
    y = poisoned(n);
    cpu::silu_forward(y.data(), a.f.data(), n);
    expect_close("silu_forward", where, y, ref(Op::silu, {&a.ref}));
    y = poisoned(n);
    cpu::silu_backward(y.data(), dy.f.data(), a.f.data(), n);
    expect_close("silu_backward", where, y, ref(Op::silu_grad, {&dy.ref, &a.ref}));
    y = poisoned(n);
    cpu::gelu_forward(y.data(), a.f.data(), n);
    expect_close("gelu_forward", where, y, ref(Op::gelu, {&a.ref}));
    y = poisoned(n);
    cpu::gelu_backward(y.data(), dy.f.data(), a.f.data(), n);
    expect_close("gelu_backward", where, y, ref(Op::gelu_grad, {&dy.ref, &a.ref}));
  }
  struct Case {
    int64_t N, C;
  };
  for (Case c : {Case{1, 1}, Case{5, 7}, Case{17, 33}, Case{300, 256}}) {
    Input x = random_input({c.N, c.C}, rng), bias = random_input({c.C}, rng);
    std::vector<float> y = poisoned(c.N * c.C);
    cpu::bias_add_forward(y.data(), x.f.data(), bias.f.data(), c.N, c.C);
    expect_close("bias_add_forward", "N=" + std::to_string(c.N) + " C=" + std::to_string(c.C), y,
                 ref(Op::bias_add, {&x.ref, &bias.ref}));
  }
}

}  // namespace
}  // namespace horizon
