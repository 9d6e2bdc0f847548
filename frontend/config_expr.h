// Arithmetic over a model's hyperparameters, as written in model files:
// "heads*head_dim", "hidden / heads", "rms_eps". Integers stay integers when
// every operand is one and every division is exact.
#pragma once

#include <string>

#include "ir/module.h"

namespace horizon::frontend {

/// Evaluates `expr` against `config`. Throws std::invalid_argument with a
/// message naming the unknown key or the bad character.
ir::AttrValue eval_config_expr(const std::string& expr, const ir::Config& config);

}  // namespace horizon::frontend
