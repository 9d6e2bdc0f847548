// Every op of ir/ops.def, forward and backward, evaluated in float64 directly
// from its mathematical definition, one op at a time and unfused. This is the
// ground truth the fp32 CPU kernels (and through them the CUDA kernels) are
// tested against, so it is written independently of them and favours the
// obvious formula over speed.
#pragma once

#include <vector>

#include "ir/module.h"
#include "runtime/reference/ref_tensor.h"

namespace horizon::reference {

/// Evaluates `op` on `operands` (in ops.def operand order) with the op's
/// attributes (eps, heads, kv_heads, head_dim, theta, scaling_factor,
/// low_freq_factor, high_freq_factor, original_max_positions, window, rows).
/// Returns the op's results in ops.def order. Throws std::invalid_argument
/// naming the op when operands are missing or their shapes disagree.
std::vector<RefTensor> reference_op(ir::Op op, const std::vector<const RefTensor*>& operands, const ir::Attrs& attrs);

/// The D/2 rotary inverse frequencies for a rope op's attributes, with Llama 3
/// or linear scaling applied as Hugging Face does.
std::vector<double> reference_rope_inv_freq(int64_t head_dim, const ir::Attrs& attrs);

}  // namespace horizon::reference
