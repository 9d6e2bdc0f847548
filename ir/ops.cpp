#include "ir/ops.h"

#include <array>

namespace horizon::ir {
namespace {

struct OpInfo {
  const char* name;
  int operands;
  int results;
  OpKind kind;
  const char* doc;
};

constexpr std::array<OpInfo, kNumOps> kOps = {{
#define OP(name, operands, results, kind, doc) {#name, operands, results, OpKind::kind, doc},
#include "ir/ops.def"
#undef OP
}};

// Bump when adding a row to ops.def, after giving the op a shape rule
// (shape_rules.cpp), a reference implementation and, for forward ops of model
// files, a VJP.
static_assert(kNumOps == 31, "ops.def changed: update shape rules, reference, VJPs, then this count");

}  // namespace

const char* op_name(Op op) { return kOps[static_cast<int>(op)].name; }
int op_operands(Op op) { return kOps[static_cast<int>(op)].operands; }
int op_results(Op op) { return kOps[static_cast<int>(op)].results; }
OpKind op_kind(Op op) { return kOps[static_cast<int>(op)].kind; }

int op_optional_operands(Op op) {
  switch (op) {
    case Op::rope:            // positions
    case Op::rope_grad:       // positions
    case Op::attention:       // segments
    case Op::attention_grad:  // segments
      return 1;
    default:
      return 0;
  }
}

bool op_takes_operands(Op op, int count) {
  return count <= op_operands(op) && count >= op_operands(op) - op_optional_operands(op);
}

std::string operand_count(Op op) {
  const int most = op_operands(op), least = most - op_optional_operands(op);
  if (least == most) return std::to_string(most);
  return std::to_string(least) + (most == least + 1 ? " or " : " to ") + std::to_string(most);
}
const char* op_doc(Op op) { return kOps[static_cast<int>(op)].doc; }

std::optional<Op> parse_op(const std::string& name) {
  for (int i = 0; i < kNumOps; ++i)
    if (name == kOps[i].name) return static_cast<Op>(i);
  return std::nullopt;
}

const char* op_kind_name(OpKind k) {
  switch (k) {
    case OpKind::elementwise:
      return "elementwise";
    case OpKind::reduction:
      return "reduction";
    case OpKind::matmul:
      return "matmul";
    case OpKind::attention:
      return "attention";
    case OpKind::data_movement:
      return "data_movement";
    case OpKind::loss:
      return "loss";
  }
  return "?";
}

}  // namespace horizon::ir
