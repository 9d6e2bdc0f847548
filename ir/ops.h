// The op enum and its metadata, generated from ops.def.
#pragma once

#include <optional>
#include <string>

namespace horizon::ir {

enum class OpKind { elementwise, reduction, matmul, attention, data_movement, loss };

enum class Op {
#define OP(name, operands, results, kind, doc) name,
#include "ir/ops.def"
#undef OP
};

inline constexpr int kNumOps = 0
#define OP(name, operands, results, kind, doc) +1
#include "ir/ops.def"
#undef OP
    ;

const char* op_name(Op op);
std::optional<Op> parse_op(const std::string& name);
/// The most operands an op takes; the last op_optional_operands of them may be left out.
int op_operands(Op op);
int op_optional_operands(Op op);
/// Whether `count` operands are a valid form of `op`.
bool op_takes_operands(Op op, int count);
/// The valid operand counts in words ("3", "3 or 4"), for errors.
std::string operand_count(Op op);
int op_results(Op op);
OpKind op_kind(Op op);
const char* op_kind_name(OpKind k);
const char* op_doc(Op op);

}  // namespace horizon::ir
