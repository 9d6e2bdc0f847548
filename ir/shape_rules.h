// Per-op type and shape rules: the single source of truth for what an op
// accepts and produces, used by the frontend while building a model (the
// only place types are inferred) and by the verifier (which checks a parsed
// dump's types against them).
#pragma once

#include <stdexcept>
#include <vector>

#include "ir/module.h"

namespace horizon::ir {

/// Thrown when operands do not fit an op; the message names the operand and the
/// dimensions that disagree. Callers add where the op stands.
class ShapeError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// Result types of `op` on operands of these types (ShapeError if they do not fit).
std::vector<TensorType> infer_result_types(Op op, const std::vector<TensorType>& operands, const Attrs& attrs);

}  // namespace horizon::ir
