// Tests of the CPU JIT (codegen/cpu): every elementwise op and fused
// programs against a double-precision reference, AdamW with fp32 and bf16
// moments against a double reference over several steps, the vector width of
// the optimized IR, caching and program validation; each on every ISA the
// host can run (the others skip with the reason).
//
// Tolerances are error budgets, not fudge factors: each op may add its own
// relative error (1 ulp for add/mul, 1e-6 for silu, 1e-5 for gelu, relative
// to the magnitude of its terms), and errors of its operands propagate
// through the op's derivative. A single op on exact inputs is therefore held
// to exactly the stated relative bound.
#include "codegen/cpu/cpu_jit.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numbers>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/bf16.h"
#include "support/random.h"

namespace {

using horizon::codegen::cpu::AdamWFn;
using horizon::codegen::cpu::AdamWParams;
using horizon::codegen::cpu::CpuJit;
using horizon::codegen::cpu::ElementwiseFn;
using horizon::codegen::cpu::ElementwiseProgram;
using horizon::codegen::cpu::Isa;
using horizon::codegen::cpu::isa_name;
using horizon::codegen::cpu::MomentType;
using horizon::ir::Op;
using horizon::join_master;
using horizon::MasterPlanes;
using horizon::Rng;
using horizon::split_master;

constexpr double kUlp = 1.2e-7;            // one float ulp, relative: add/mul are correctly rounded
constexpr double kSiluTol = 1e-6;          // silu, silu_grad: relative to the magnitude of their terms
constexpr double kGeluTol = 1e-5;          // gelu, gelu_grad
constexpr double kUnderflowFloor = 1e-30;  // exp's clamp makes far-tail results ~1e-33 instead of 0

// ---- double-precision reference ----

// sigmoid(z) and 1 - sigmoid(z) without cancellation.
struct Sigmoid {
  double s, one_minus_s;
};
Sigmoid sigmoid(double z) {
  double e = std::exp(-std::fabs(z));  // never overflows
  double near = 1.0 / (1.0 + e), far = e * near;
  return z >= 0 ? Sigmoid{near, far} : Sigmoid{far, near};
}

constexpr double kK = std::numbers::sqrt2 * std::numbers::inv_sqrtpi;  // sqrt(2/pi)
constexpr double kC = 0.044715;

double silu(double x) { return x * sigmoid(x).s; }
double silu_d(double x) {
  Sigmoid g = sigmoid(x);
  return g.s * (1.0 + x * g.one_minus_s);
}
// 0.5 x (1 + tanh(u)) == x sigmoid(2u); the test ReferenceFormulas checks the identity.
double gelu(double x) { return x * sigmoid(2.0 * kK * (x + kC * x * x * x)).s; }
double gelu_dz(double x) { return 2.0 * kK * (1.0 + 3.0 * kC * x * x); }
double gelu_d(double x) {
  Sigmoid g = sigmoid(2.0 * kK * (x + kC * x * x * x));
  return g.s + x * g.s * g.one_minus_s * gelu_dz(x);
}
double central_difference(double (*f)(double), double x) {
  double h = 1e-5 * std::max(1.0, std::fabs(x));
  return (f(x + h) - f(x - h)) / (2.0 * h);
}

// A reference value and the absolute error the kernel is allowed on it.
struct Ref {
  double v = 0, err = 0;
};

Ref reference_op(Op op, const std::vector<Ref>& a) {
  switch (op) {
    case Op::add:
    case Op::bias_add: {
      double v = a[0].v + a[1].v;
      return {v, a[0].err + a[1].err + kUlp * std::fabs(v)};
    }
    case Op::mul: {
      double v = a[0].v * a[1].v;
      return {v, std::fabs(a[1].v) * a[0].err + std::fabs(a[0].v) * a[1].err + kUlp * std::fabs(v)};
    }
    case Op::silu: {
      double v = silu(a[0].v);
      return {v, std::fabs(silu_d(a[0].v)) * a[0].err + kSiluTol * std::fabs(v)};
    }
    case Op::gelu: {
      double v = gelu(a[0].v);
      return {v, std::fabs(gelu_d(a[0].v)) * a[0].err + kGeluTol * std::fabs(v)};
    }
    case Op::silu_grad: {
      double dy = a[0].v, x = a[1].v;
      Sigmoid g = sigmoid(x);
      double magnitude = std::fabs(dy) * (g.s + std::fabs(x * g.s * g.one_minus_s));
      return {dy * silu_d(x), std::fabs(silu_d(x)) * a[0].err +
                                  std::fabs(dy * central_difference(silu_d, x)) * a[1].err + kSiluTol * magnitude};
    }
    case Op::gelu_grad: {
      double dy = a[0].v, x = a[1].v;
      Sigmoid g = sigmoid(2.0 * kK * (x + kC * x * x * x));
      double magnitude = std::fabs(dy) * (g.s + std::fabs(x * g.s * g.one_minus_s * gelu_dz(x)));
      return {dy * gelu_d(x), std::fabs(gelu_d(x)) * a[0].err +
                                  std::fabs(dy * central_difference(gelu_d, x)) * a[1].err + kGeluTol * magnitude};
    }
    default:
      throw std::logic_error("no reference for this op");
  }
}

// ---- harness ----

class CpuJitIsa : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    try {
      jit_ = &CpuJit::get(GetParam());
    } catch (const std::runtime_error& e) {
      GTEST_SKIP() << "host lacks " << isa_name(GetParam()) << ": " << e.what();
    }
  }
  CpuJit* jit_ = nullptr;
};

// Values where activations change regime, mixed into random inputs.
const float kSpecials[] = {0.0f,  -0.0f,  1e-6f, -1e-6f, 0.5f,   -0.75f, -1.28f,
                           20.0f, -20.0f, 60.0f, -60.0f, 100.0f, -100.0f};

std::vector<float> random_floats(std::mt19937& rng, size_t n, float lo, float hi, bool with_specials) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  if (with_specials)
    for (size_t i = 0; i < n; i += 5) v[i] = kSpecials[(i / 5) % std::size(kSpecials)];
  return v;
}

// Runs `program` on random [rows, cols] inputs with NaN-poisoned outputs and
// compares every output element with the reference. Returns "" or the worst
// failures.
std::string check_program(CpuJit& jit, const ElementwiseProgram& p, int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  const size_t n = static_cast<size_t>(rows * cols);
  std::vector<std::vector<float>> in;
  for (const ElementwiseProgram::Input& input : p.inputs)
    in.push_back(random_floats(rng, input.row_broadcast ? cols : n, -10.0f, 10.0f, !input.row_broadcast));
  std::vector<std::vector<float>> out(p.outputs.size(), std::vector<float>(n, std::nanf("")));
  std::vector<const float*> in_ptrs;
  std::vector<float*> out_ptrs;
  for (auto& v : in) in_ptrs.push_back(v.data());
  for (auto& v : out) out_ptrs.push_back(v.data());

  ElementwiseFn fn = jit.elementwise(p);
  fn(rows, cols, in_ptrs.data(), out_ptrs.data());

  std::ostringstream failures;
  failures.precision(9);
  int failed = 0;
  double worst_ratio = 0;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      std::vector<Ref> values;
      for (size_t k = 0; k < p.inputs.size(); ++k)
        values.push_back({in[k][p.inputs[k].row_broadcast ? c : r * cols + c], 0.0});
      for (const ElementwiseProgram::Node& node : p.nodes) {
        std::vector<Ref> args;
        for (int operand : node.operands) args.push_back(values[operand]);
        values.push_back(reference_op(node.op, args));
      }
      for (size_t k = 0; k < p.outputs.size(); ++k) {
        const Ref& want = values[p.inputs.size() + p.outputs[k]];
        double got = out[k][r * cols + c];
        double error = std::fabs(got - want.v), allowed = want.err + kUnderflowFloor;
        worst_ratio = std::max(worst_ratio, error / allowed);
        if (!(error <= allowed) && ++failed <= 5)
          failures << "  output " << k << " [" << r << "," << c << "]: got " << got << " want " << want.v << " (error "
                   << error << " > allowed " << allowed << ")\n";
      }
    }
  if (failed == 0) return "";
  return p.key() + " rows=" + std::to_string(rows) + " cols=" + std::to_string(cols) + ": " + std::to_string(failed) +
         " elements wrong, worst error/allowed " + std::to_string(worst_ratio) + "\n" + failures.str();
}

// Shapes whose column counts are not multiples of any vector width, plus exact ones.
const std::pair<int64_t, int64_t> kShapes[] = {{1, 1}, {3, 7}, {2, 33}, {4, 1000}, {1, 1037}, {2, 64}};

ElementwiseProgram unary(Op op) {
  ElementwiseProgram p;
  p.inputs = {{}};
  p.nodes = {{op, {0}}};
  p.outputs = {0};
  return p;
}

ElementwiseProgram binary(Op op, bool second_broadcast = false) {
  ElementwiseProgram p;
  p.inputs = {{}, {second_broadcast}};
  p.nodes = {{op, {0, 1}}};
  p.outputs = {0};
  return p;
}

void expect_matches_reference(CpuJit& jit, const ElementwiseProgram& p) {
  uint32_t seed = 1;
  for (auto [rows, cols] : kShapes) EXPECT_EQ(check_program(jit, p, rows, cols, seed++), "");
}

// ---- elementwise ops, one at a time ----

TEST_P(CpuJitIsa, AddMatchesReference) { expect_matches_reference(*jit_, binary(Op::add)); }
TEST_P(CpuJitIsa, MulMatchesReference) { expect_matches_reference(*jit_, binary(Op::mul)); }
TEST_P(CpuJitIsa, BiasAddMatchesReference) { expect_matches_reference(*jit_, binary(Op::bias_add, true)); }
TEST_P(CpuJitIsa, SiluMatchesReference) { expect_matches_reference(*jit_, unary(Op::silu)); }
TEST_P(CpuJitIsa, GeluMatchesReference) { expect_matches_reference(*jit_, unary(Op::gelu)); }
TEST_P(CpuJitIsa, SiluGradMatchesReference) { expect_matches_reference(*jit_, binary(Op::silu_grad)); }
TEST_P(CpuJitIsa, GeluGradMatchesReference) { expect_matches_reference(*jit_, binary(Op::gelu_grad)); }

TEST_P(CpuJitIsa, ActivationsPropagateNaN) {
  for (Op op : {Op::silu, Op::gelu}) {
    std::vector<float> x(37, 1.0f), y(37, 0.0f);
    x[3] = x[36] = std::nanf("");
    const float* ins[] = {x.data()};
    float* outs[] = {y.data()};
    jit_->elementwise(unary(op))(1, 37, ins, outs);
    EXPECT_TRUE(std::isnan(y[3]) && std::isnan(y[36])) << horizon::ir::op_name(op);
    EXPECT_FALSE(std::isnan(y[4])) << horizon::ir::op_name(op);
  }
}

TEST_P(CpuJitIsa, EmptyTensorWritesNothing) {
  std::vector<float> x(8, 1.0f), y(8, -1.0f);
  const float* ins[] = {x.data()};
  float* outs[] = {y.data()};
  ElementwiseFn fn = jit_->elementwise(unary(Op::silu));
  fn(0, 8, ins, outs);
  fn(8, 0, ins, outs);
  fn(-2, -4, ins, outs);
  for (float v : y) EXPECT_EQ(v, -1.0f);
}

TEST_P(CpuJitIsa, InPlaceUpdateMatchesReference) {
  std::mt19937 rng(7);
  std::vector<float> x = random_floats(rng, 1000, -10.0f, 10.0f, true);
  std::vector<float> original = x;
  const float* ins[] = {x.data()};
  float* outs[] = {x.data()};
  jit_->elementwise(unary(Op::silu))(10, 100, ins, outs);
  for (size_t i = 0; i < x.size(); ++i) {
    double want = silu(original[i]);
    EXPECT_LE(std::fabs(x[i] - want), kSiluTol * std::fabs(want) + kUnderflowFloor) << i;
  }
}

// ---- fused programs ----

TEST_P(CpuJitIsa, FusedSwiGluMatchesReference) {
  ElementwiseProgram p;  // silu(gate) * up
  p.inputs = {{}, {}};
  p.nodes = {{Op::silu, {0}}, {Op::mul, {2, 1}}};
  p.outputs = {1};
  expect_matches_reference(*jit_, p);
}

TEST_P(CpuJitIsa, FusedBiasGeluWithTwoOutputsMatchesReference) {
  ElementwiseProgram p;  // pre = x + b (saved for backward), y = gelu(pre)
  p.inputs = {{}, {true}};
  p.nodes = {{Op::bias_add, {0, 1}}, {Op::gelu, {2}}};
  p.outputs = {1, 0};
  expect_matches_reference(*jit_, p);
}

TEST_P(CpuJitIsa, FusedSwiGluBackwardMatchesReference) {
  ElementwiseProgram p;  // inputs dy, gate, up -> d_up = dy * silu(gate), d_gate = silu_grad(dy * up, gate)
  p.inputs = {{}, {}, {}};
  p.nodes = {{Op::silu, {1}}, {Op::mul, {0, 3}}, {Op::mul, {0, 2}}, {Op::silu_grad, {5, 1}}};
  p.outputs = {1, 3};
  expect_matches_reference(*jit_, p);
}

TEST_P(CpuJitIsa, FusedGeluBackwardWithBroadcastScaleMatchesReference) {
  ElementwiseProgram p;  // gelu_grad(dy * scale[c], x) + x: a broadcast input outside bias_add
  p.inputs = {{}, {true}, {}};
  p.nodes = {{Op::mul, {0, 1}}, {Op::gelu_grad, {3, 2}}, {Op::add, {4, 2}}};
  p.outputs = {2};
  expect_matches_reference(*jit_, p);
}

// ---- generated code ----

TEST_P(CpuJitIsa, OptimizedIrUsesTheIsaVectorWidth) {
  const char* vector = GetParam() == Isa::avx512 ? "<16 x float>"
                       : GetParam() == Isa::avx2 ? "<8 x float>"
                                                 : "<4 x float>";
  const char* moment_load = GetParam() == Isa::avx512 ? "load <16 x i16>"
                            : GetParam() == Isa::avx2 ? "load <8 x i16>"
                                                      : "load <4 x i16>";
  ElementwiseProgram p = unary(Op::gelu);
  std::string ir = jit_->elementwise_llvm_ir(p);
  EXPECT_NE(ir.find(vector), std::string::npos) << ir;
  if (GetParam() != Isa::avx512) {
    EXPECT_EQ(ir.find("<16 x float>"), std::string::npos) << ir;
  }
  // O3 ran: the polynomial's fmuladds survive as intrinsics, the IRBuilder's allocas don't exist.
  EXPECT_NE(ir.find("llvm.fmuladd"), std::string::npos);
  for (MomentType moments : {MomentType::bf16, MomentType::f32}) {
    std::string adamw = jit_->adamw_llvm_ir(moments);
    EXPECT_NE(adamw.find(vector), std::string::npos);
    EXPECT_NE(adamw.find(moment_load), std::string::npos) << adamw;
  }
}

TEST_P(CpuJitIsa, CachesCompiledFunctionsByKey) {
  ElementwiseProgram a = unary(Op::silu), b = unary(Op::silu), c = unary(Op::gelu);
  EXPECT_EQ(a.key(), b.key());
  EXPECT_NE(a.key(), c.key());
  EXPECT_EQ(jit_->elementwise(a), jit_->elementwise(b));
  EXPECT_NE(jit_->elementwise(a), jit_->elementwise(c));
  EXPECT_EQ(jit_->adamw(MomentType::bf16), jit_->adamw(MomentType::bf16));
  EXPECT_NE(jit_->adamw(MomentType::bf16), jit_->adamw(MomentType::f32));
  EXPECT_EQ(&CpuJit::get(GetParam()), jit_);
  EXPECT_EQ(jit_->isa(), GetParam());
}

// ---- AdamW ----

uint16_t bf16_rne(float f) {
  uint32_t u = std::bit_cast<uint32_t>(f);
  if (std::isnan(f)) return static_cast<uint16_t>((u >> 16) | 0x40);
  return static_cast<uint16_t>((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}
float from_bf16(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }
float from_planes(uint16_t hi, uint16_t lo) { return join_master(hi, lo); }

// The optimizer state as the kernel stores it.
struct AdamState {
  MomentType moments;
  std::vector<uint16_t> hi, lo;
  std::vector<uint16_t> m16, v16;
  std::vector<float> m32, v32;

  AdamState(MomentType type, const std::vector<float>& w) : moments(type) {
    for (float x : w) {
      const MasterPlanes p = split_master(x);
      hi.push_back(p.hi);
      lo.push_back(p.lo);
    }
    m16.assign(w.size(), 0);
    v16.assign(w.size(), 0);
    m32.assign(w.size(), 0.0f);
    v32.assign(w.size(), 0.0f);
  }
  double m(size_t i) const { return moments == MomentType::bf16 ? from_bf16(m16[i]) : m32[i]; }
  double v(size_t i) const { return moments == MomentType::bf16 ? from_bf16(v16[i]) : v32[i]; }
  void* m_ptr() { return moments == MomentType::bf16 ? static_cast<void*>(m16.data()) : m32.data(); }
  void* v_ptr() { return moments == MomentType::bf16 ? static_cast<void*>(v16.data()) : v32.data(); }
};

// A stored moment matches `want` (error budget `allowed`) if it is what
// storing some value within the budget would give: the fp32 value itself, or
// its bf16 round-to-nearest-even, which may round either way near a tie.
bool moment_ok(MomentType type, double got, double want, double allowed) {
  if (type == MomentType::f32) return std::fabs(got - want) <= allowed;
  double lo = from_bf16(bf16_rne(static_cast<float>(want - allowed)));
  double hi = from_bf16(bf16_rne(static_cast<float>(want + allowed)));
  return lo <= got && got <= hi;
}

// Steps the kernel and, from the same pre-step state, the double reference;
// returns "" or the first failures.
std::string check_adamw_steps(AdamWFn fn, MomentType type, size_t n, AdamWParams p, int steps, uint32_t seed) {
  std::mt19937 rng(seed);
  AdamState state(type, random_floats(rng, n, -2.0f, 2.0f, false));
  std::ostringstream failures;
  failures.precision(9);
  int failed = 0;
  for (int t = 1; t <= steps; ++t) {
    p.bias_correction1 = 1.0f - std::pow(p.beta1, static_cast<float>(t));
    p.bias_correction2 = 1.0f - std::pow(p.beta2, static_cast<float>(t));
    std::vector<float> grad = random_floats(rng, n, -0.1f, 0.1f, false);
    for (size_t i = 0; i < n; i += 11) grad[i] *= 100.0f;  // some outliers
    AdamState before = state;
    fn(static_cast<int64_t>(n), state.hi.data(), state.lo.data(), state.m_ptr(), state.v_ptr(), grad.data(), &p);

    const double b1 = p.beta1, b2 = p.beta2;
    for (size_t i = 0; i < n; ++i) {
      double w = from_planes(before.hi[i], before.lo[i]);
      double g = static_cast<double>(grad[i]) * p.grad_scale;
      double m_terms = std::fabs(b1 * before.m(i)) + std::fabs((1 - b1) * g);
      double m = b1 * before.m(i) + (1 - b1) * g;
      double v = b2 * before.v(i) + (1 - b2) * g * g;
      double denom = std::sqrt(v / p.bias_correction2) + p.eps;
      double adam = (m / p.bias_correction1) / denom;
      double w_new = w - p.lr * (adam + p.weight_decay * w);
      // m and v in float carry ~2 ulp relative to their terms; the update adds a few more.
      double m_err = 2e-7 * m_terms + 1e-38, v_err = 2e-7 * v + 1e-38;
      double adam_err = (m_err / p.bias_correction1) / denom + 1e-6 * std::fabs(adam);
      float w_float = static_cast<float>(w_new);
      double ulp = std::nextafter(w_float, std::numeric_limits<float>::infinity()) - w_float;
      double w_err = ulp + p.lr * (adam_err + 1e-6 * std::fabs(p.weight_decay * w));
      double got_w = from_planes(state.hi[i], state.lo[i]);
      bool ok = std::fabs(got_w - w_new) <= w_err && moment_ok(type, state.m(i), m, m_err) &&
                moment_ok(type, state.v(i), v, v_err);
      if (!ok && ++failed <= 5)
        failures << "  step " << t << " [" << i << "]: w " << got_w << " want " << w_new << " (±" << w_err << "), m "
                 << state.m(i) << " want " << m << ", v " << state.v(i) << " want " << v << "\n";
    }
  }
  if (failed == 0) return "";
  return "n=" + std::to_string(n) + ": " + std::to_string(failed) + " wrong\n" + failures.str();
}

void expect_adamw_matches_reference(CpuJit& jit, MomentType type) {
  AdamWFn fn = jit.adamw(type);
  AdamWParams pretraining;
  pretraining.lr = 1e-3f;
  pretraining.weight_decay = 0.1f;
  pretraining.grad_scale = 0.5f;
  AdamWParams fine_tuning = pretraining;  // updates far below bf16 resolution of w
  fine_tuning.lr = 1e-5f;
  fine_tuning.beta2 = 0.999f;
  uint32_t seed = 11;
  for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{33}, size_t{1000}, size_t{4099}}) {
    EXPECT_EQ(check_adamw_steps(fn, type, n, pretraining, 5, seed++), "");
    EXPECT_EQ(check_adamw_steps(fn, type, n, fine_tuning, 5, seed++), "");
  }
}

TEST_P(CpuJitIsa, AdamWFp32MomentsMatchesReference) { expect_adamw_matches_reference(*jit_, MomentType::f32); }
TEST_P(CpuJitIsa, AdamWBf16MomentsMatchesReference) { expect_adamw_matches_reference(*jit_, MomentType::bf16); }

TEST_P(CpuJitIsa, AdamWKeepsSmallUpdatesInTheLowPlane) {
  // At lr 1e-6 an update moves w by ~1e-6, far below a bf16 ulp of 1.0
  // (7.8e-3): the hi plane stays, the lo plane must move.
  std::vector<float> w(40, 1.0f);
  AdamState state(MomentType::bf16, w);
  std::vector<float> grad(40, 1.0f);
  AdamWParams p;
  p.lr = 1e-6f;
  p.bias_correction1 = 1.0f - p.beta1;  // step 1: the update is grad / |grad| = 1
  p.bias_correction2 = 1.0f - p.beta2;
  jit_->adamw(MomentType::bf16)(40, state.hi.data(), state.lo.data(), state.m_ptr(), state.v_ptr(), grad.data(), &p);
  for (size_t i = 0; i < w.size(); ++i) {
    EXPECT_EQ(state.hi[i], 0x3f80) << i;  // 1 - 1e-6 is just below 1.0 and rounds to it in bf16
    EXPECT_NEAR(from_planes(state.hi[i], state.lo[i]), 1.0 - 1e-6, 1e-7) << i;
  }
}

// The kernel splits the updated master exactly as support/bf16.h does: a
// zero update (lr 0) must leave planes written by split_master
// bit-identical, across signs, magnitudes, rounding carries and the clamp.
TEST_P(CpuJitIsa, AdamWKeepsTheSplitMasterEncoding) {
  std::vector<float> w = {1.0f,
                          -1.0f,
                          0.0f,
                          -0.0f,
                          1e-40f,
                          -3.0e-39f,
                          3.3e38f,
                          -3.3e38f,
                          std::bit_cast<float>(0x3F808000u),
                          std::bit_cast<float>(0xBF80FFFFu),
                          std::bit_cast<float>(0x3F807FFFu),
                          std::bit_cast<float>(0x7F7F7FFFu)};
  // (Infinities are the round trip's business, tests/safetensors_test.cpp:
  // AdamW's own arithmetic turns an infinite weight into NaN, 0 * inf.)
  Rng rng(5);
  while (w.size() < 37) w.push_back(static_cast<float>(rng.normal() * 0.02));
  for (MomentType type : {MomentType::bf16, MomentType::f32}) {
    AdamState state(type, w);
    const AdamState before = state;
    std::vector<float> grad(w.size(), 0.0f);
    AdamWParams p;
    p.lr = 0.0f;
    p.bias_correction1 = 1.0f - p.beta1;
    p.bias_correction2 = 1.0f - p.beta2;
    jit_->adamw(type)(static_cast<int64_t>(w.size()), state.hi.data(), state.lo.data(), state.m_ptr(), state.v_ptr(),
                      grad.data(), &p);
    EXPECT_EQ(state.hi, before.hi);
    EXPECT_EQ(state.lo, before.lo);
  }
}

TEST_P(CpuJitIsa, AdamWNaNGradientGivesNaNNotInfinity) {
  for (MomentType type : {MomentType::bf16, MomentType::f32}) {
    std::vector<float> w(19, 0.5f), grad(19, 0.01f);
    grad[17] = std::nanf("");
    AdamState state(type, w);
    AdamWParams p;
    jit_->adamw(type)(19, state.hi.data(), state.lo.data(), state.m_ptr(), state.v_ptr(), grad.data(), &p);
    EXPECT_TRUE(std::isnan(state.m(17)) && std::isnan(state.v(17)));
    EXPECT_TRUE(std::isnan(from_planes(state.hi[17], state.lo[17])));
    EXPECT_FALSE(std::isnan(from_planes(state.hi[16], state.lo[16])));
  }
}

INSTANTIATE_TEST_SUITE_P(CpuJit, CpuJitIsa, ::testing::Values(Isa::avx512, Isa::avx2, Isa::sse),
                         [](const ::testing::TestParamInfo<Isa>& info) { return std::string(isa_name(info.param)); });

// ---- ISA-independent ----

TEST(CpuJit, ConcurrentRequestsShareOneFunctionPerKey) {
  // Threads racing to compile the same programs must all get the one cached function.
  const Op ops[] = {Op::silu, Op::gelu, Op::add, Op::mul};
  std::vector<std::vector<ElementwiseFn>> seen(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (Op op : ops)
        seen[t].push_back(CpuJit::get().elementwise(op == Op::silu || op == Op::gelu ? unary(op) : binary(op)));
    });
  for (std::thread& thread : threads) thread.join();
  for (int t = 1; t < 4; ++t) EXPECT_EQ(seen[t], seen[0]);
}

TEST(CpuJit, ReferenceFormulas) {
  // The reference's sigmoid form of gelu is the tanh approximation, and its
  // derivatives are the derivatives (the kernels are checked against these).
  for (double x = -6.0; x <= 6.0; x += 0.37) {
    double tanh_form = 0.5 * x * (1.0 + std::tanh(kK * (x + kC * x * x * x)));
    EXPECT_NEAR(gelu(x), tanh_form, 1e-14) << x;
    EXPECT_NEAR(gelu_d(x), central_difference(gelu, x), 1e-8) << x;
    EXPECT_NEAR(silu_d(x), central_difference(silu, x), 1e-8) << x;
  }
}

TEST(CpuJit, AutomaticPicksTheHostIsa) {
  Isa host = horizon::codegen::cpu::host_isa();
  EXPECT_NE(host, Isa::automatic);
  EXPECT_EQ(CpuJit::get().isa(), host);
  EXPECT_EQ(&CpuJit::get(Isa::automatic), &CpuJit::get(host));
}

TEST(CpuJit, MissingIsaThrowsNamingIt) {
  if (horizon::codegen::cpu::host_isa() == Isa::avx512) GTEST_SKIP() << "host has AVX-512: every ISA is available";
  try {
    CpuJit::get(Isa::avx512);
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("avx512"), std::string::npos) << e.what();
  }
}

void expect_invalid(const ElementwiseProgram& p, const std::string& mentions) {
  try {
    CpuJit::get().elementwise(p);
    ADD_FAILURE() << "expected std::invalid_argument for " << p.key();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(mentions), std::string::npos) << e.what();
  }
  EXPECT_THROW(CpuJit::get().elementwise_llvm_ir(p), std::invalid_argument);
}

TEST(CpuJit, RejectsInvalidPrograms) {
  ElementwiseProgram p = unary(Op::linear);
  expect_invalid(p, "node 0 (linear)");

  p = unary(Op::silu);
  p.nodes[0].operands = {1};  // the node itself
  expect_invalid(p, "operand 1");

  p = binary(Op::add);
  p.nodes[0].operands = {0};
  expect_invalid(p, "1 operands");

  expect_invalid(binary(Op::bias_add, false), "row_broadcast");

  p = unary(Op::silu);
  p.outputs = {};
  expect_invalid(p, "no outputs");
  p.outputs = {1};
  expect_invalid(p, "output 1");
}

TEST(CpuJit, KeyNamesInputsNodesAndOutputs) {
  ElementwiseProgram p;
  p.inputs = {{}, {true}};
  p.nodes = {{Op::bias_add, {0, 1}}, {Op::gelu, {2}}};
  p.outputs = {1, 0};
  EXPECT_EQ(p.key(), "in(x,r) bias_add(0,1) gelu(2) out(1,0)");
}

}  // namespace
