// autodiff: for every forward stage F, appends a backward stage "F.bwd" built
// from per-op VJP rules (no tape, no runtime autograd). The backward stage
// takes F's inputs (the activation checkpoint) and the gradient of each float
// output (`d_<name>`), recomputes F's forward ops, then runs their VJPs in
// reverse and outputs the gradient of each float input and of every
// parameter (`grad %p = %d_p`). A stage whose output is a scalar loss (the
// head) seeds it with d(loss) = 1 and also outputs the loss, so one backward
// stage computes the loss and its gradients together.
// Needs: a verified module (every value typed). Leaves recomputed-but-unused forward ops for
// eliminate_dead_code. Returns true if it added stages.
#pragma once

#include "ir/module.h"

namespace horizon::passes {

bool autodiff(ir::Module& m);

/// Name of the backward stage of forward stage `name` ("block" -> "block.bwd").
std::string backward_stage_name(const std::string& forward);

}  // namespace horizon::passes
