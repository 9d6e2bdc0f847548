// rms_norm's group_size attribute (Qwen3's per-head q/k norm): the shape
// rules that keep a weight of the wrong length from silently becoming a
// grouped norm, the IR text round trip, and the CPU dispatch (rows of
// group_size) against the float64 reference.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/shape_rules.h"
#include "ir/verifier.h"
#include "runtime/cpu/op_dispatch.h"
#include "runtime/reference/reference_ops.h"
#include "support/error.h"

namespace horizon {
namespace {

using ir::Dim;
using ir::DType;
using ir::Op;
using ir::TensorType;

TensorType f32(std::vector<Dim> shape) { return TensorType{DType::f32, std::move(shape)}; }

std::string shape_error(Op op, const std::vector<TensorType>& in, const ir::Attrs& attrs) {
  try {
    ir::infer_result_types(op, in, attrs);
  } catch (const ir::ShapeError& e) {
    return e.what();
  }
  return "";
}

TEST(RmsNormGroup, ShapeRules) {
  const TensorType x = f32({Dim::batch(), Dim::seq(), Dim::of(256)}), w64 = f32({Dim::of(64)});
  const ir::Attrs grouped{{"eps", 1e-6}, {"group_size", int64_t{64}}};
  EXPECT_EQ(ir::infer_result_types(Op::rms_norm, {x, w64}, grouped), std::vector<TensorType>{x});
  EXPECT_EQ(ir::infer_result_types(Op::rms_norm_grad, {x, x, w64}, grouped), (std::vector<TensorType>{x, w64}));
  // Without group_size the weight must span the last dim.
  EXPECT_NE(shape_error(Op::rms_norm, {x, w64}, {{"eps", 1e-6}}).find("weight length is 64 but must be 256"),
            std::string::npos);
  // The weight must have group_size entries, and group_size must divide the last dim.
  EXPECT_NE(shape_error(Op::rms_norm, {x, f32({Dim::of(256)})}, grouped).find("weight length is 256 but must be 64"),
            std::string::npos);
  EXPECT_NE(shape_error(Op::rms_norm, {x, f32({Dim::of(48)})}, {{"eps", 1e-6}, {"group_size", int64_t{48}}})
                .find("group_size 48 must divide the last dim of x f32[B, S, 256]"),
            std::string::npos);
  EXPECT_NE(shape_error(Op::rms_norm_grad, {x, x, w64}, {{"eps", 1e-6}, {"group_size", int64_t{0}}}).find("group_size"),
            std::string::npos);
}

TEST(RmsNormGroup, TextRoundTripAndVerifier) {
  const std::string text =
      "module \"m\" {\n  config {}\n  stage s {\n    in %q : f32[B, S, 8]\n"
      "    param %q_norm : f32[4] \"q_norm.weight\" init=ones nodecay\n"
      "    %y : f32[B, S, 8] = rms_norm(%q, %q_norm) {eps = 1e-06, group_size = 4}\n    out %y\n  }\n}\n";
  const ir::Module m = ir::parse_module(text, "m.hir");
  ir::verify_module(m, "m.hir");
  const std::string printed = ir::print_module(m);
  EXPECT_NE(printed.find("rms_norm(%q, %q_norm) {eps = 1e-06, group_size = 4}"), std::string::npos) << printed;
  EXPECT_EQ(ir::print_module(ir::parse_module(printed, "again.hir")), printed);
  // The same text without the attribute is a shape error, not a silent per-head norm.
  std::string plain = text;
  plain.replace(plain.find(", group_size = 4"), 16, "");
  try {
    ir::verify_module(ir::parse_module(plain, "m.hir"), "m.hir");
    ADD_FAILURE() << "a [4] weight on a last dim of 8 was accepted without group_size";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("weight length is 4 but must be 8"), std::string::npos) << e.what();
  }
}

TEST(RmsNormGroup, CpuDispatchMatchesTheReference) {
  // Two heads of 6 over a batch of 2 x 3 tokens: forward and backward.
  const ir::Module m = ir::parse_module(
      "module \"m\" {\n  config {}\n  stage s {\n    in %q : f32[B, S, 12]\n    in %dy : f32[B, S, 12]\n"
      "    param %w : f32[6] \"w\" init=ones nodecay\n"
      "    %y : f32[B, S, 12] = rms_norm(%q, %w) {eps = 1e-05, group_size = 6}\n"
      "    %dq : f32[B, S, 12], %dw : f32[6] = rms_norm_grad(%dy, %q, %w) {eps = 1e-05, group_size = 6}\n"
      "    out %y\n    out %dq\n    out %dw\n  }\n}\n",
      "m.hir");
  ir::verify_module(m, "m.hir");
  const ir::Stage& s = m.stages.at(0);
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> q(72), dy(72), w(6);
  for (float& v : q) v = normal(rng);
  for (float& v : dy) v = normal(rng);
  for (float& v : w) v = 1.0f + 0.5f * normal(rng);
  runtime::ValueTable t(s, 2, 3);
  t.bind(s.inputs[0], q.data());
  t.bind(s.inputs[1], dy.data());
  t.bind(s.params[0].value, w.data());
  for (const ir::Instr& in : s.instrs) runtime::dispatch_op(in, t);

  auto ref = [](std::vector<int64_t> shape, const std::vector<float>& v) {
    reference::RefTensor r = reference::RefTensor::zeros(std::move(shape));
    for (size_t i = 0; i < v.size(); ++i) r.data[i] = v[i];
    return r;
  };
  const reference::RefTensor rq = ref({2, 3, 12}, q), rdy = ref({2, 3, 12}, dy), rw = ref({6}, w);
  const ir::Attrs attrs = s.instrs[0].attrs;
  const reference::RefTensor want_y = reference::reference_op(Op::rms_norm, {&rq, &rw}, attrs).at(0);
  const std::vector<reference::RefTensor> want_g = reference::reference_op(Op::rms_norm_grad, {&rdy, &rq, &rw}, attrs);
  auto expect_close = [](const char* what, const float* got, const reference::RefTensor& want) {
    for (size_t i = 0; i < want.data.size(); ++i)
      EXPECT_NEAR(got[i], want.data[i], 1e-5 * (1 + std::fabs(want.data[i]))) << what << "[" << i << "]";
  };
  expect_close("y", t.f32(s.instrs[0].results[0]), want_y);
  expect_close("dq", t.f32(s.instrs[1].results[0]), want_g[0]);
  expect_close("dw", t.f32(s.instrs[1].results[1]), want_g[1]);
}

}  // namespace
}  // namespace horizon
