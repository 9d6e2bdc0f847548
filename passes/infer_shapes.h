// infer_shapes: recomputes every instruction's result types from its operands
// with the op table's shape rules. Needs: a module whose inputs and parameters
// are typed (any frontend or parsed dump). Returns whether any type changed.
#pragma once

#include "ir/module.h"

namespace horizon::passes {

bool infer_shapes(ir::Module& m);

}  // namespace horizon::passes
