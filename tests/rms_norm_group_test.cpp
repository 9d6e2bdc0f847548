// rms_norm's group_size attribute (Qwen3's per-head q/k norm): the shape
// rules that keep a weight of the wrong length from silently becoming a
// grouped norm, and the IR text round trip.
#include <gtest/gtest.h>

#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/shape_rules.h"
#include "ir/verifier.h"
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
  EXPECT_EQ(ir::infer_result_types(Op::rms_norm_grad, {x, x, w64}, grouped),
            (std::vector<TensorType>{x, w64}));
  // Without group_size the weight must span the last dim.
  EXPECT_NE(shape_error(Op::rms_norm, {x, w64}, {{"eps", 1e-6}}).find("weight length is 64 but must be 256"), std::string::npos);
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

}  // namespace
}  // namespace horizon
