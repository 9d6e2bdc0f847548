// Internal to the reference: one function per op family, each handling the
// forward and backward ops of that family, and the shape checks they share.
// reference_op() in reference_ops.cpp dispatches to them.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "ir/module.h"
#include "runtime/reference/ref_tensor.h"

namespace horizon::reference::family {

using Operands = std::vector<const RefTensor*>;

/// Throws std::invalid_argument "reference OP: what" unless `ok`.
inline void require(bool ok, ir::Op op, const std::string& what) {
  if (!ok) throw std::invalid_argument(std::string("reference ") + ir::op_name(op) + ": " + what);
}

inline std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

std::vector<RefTensor> elementwise(ir::Op op, const Operands& in, const ir::Attrs& attrs);
std::vector<RefTensor> linear(ir::Op op, const Operands& in, const ir::Attrs& attrs);
std::vector<RefTensor> norm(ir::Op op, const Operands& in, const ir::Attrs& attrs);
std::vector<RefTensor> position(ir::Op op, const Operands& in, const ir::Attrs& attrs);
std::vector<RefTensor> attention(ir::Op op, const Operands& in, const ir::Attrs& attrs);
std::vector<RefTensor> loss(ir::Op op, const Operands& in, const ir::Attrs& attrs);
/// Per-sequence log-probabilities and the DPO loss (reference_preference_ops.cpp).
std::vector<RefTensor> preference(ir::Op op, const Operands& in, const ir::Attrs& attrs);
/// The fused lm head loss, as the composition of the ops it fuses (unchunked).
std::vector<RefTensor> linear_loss(ir::Op op, const Operands& in, const ir::Attrs& attrs);

}  // namespace horizon::reference::family
