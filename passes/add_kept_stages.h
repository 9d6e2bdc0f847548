// add_kept_stages: adds the two stages a block runs when its activations stay
// on the GPU until its backward (the selective recompute of
// passes/plan_kept_activations), so the backward does not run its forward's
// matmuls and attention a second time:
//  - `block.keep`: the forward `block`, also returning every value its
//    backward would recompute with a matmul or attention, in the order the
//    backward defines them;
//  - `block.kept.bwd`: `block.bwd` reading those values as inputs (after the
//    forward's inputs, before %d_y) instead of computing them. The cheap ops
//    between them (norms, rope, elementwise) are still recomputed there: they
//    cost memory bandwidth once, where keeping their results would cost GPU
//    memory for the whole step.
// The values are the same as the recompute's (same ops on the same inputs),
// so a kept block's gradients equal a recomputed one's. Run after
// eliminate_dead_code (the backward holds only the forward ops it reads) and
// before the fusion passes. Returns whether it added the stages.
#pragma once

#include "ir/module.h"

namespace horizon::passes {

bool add_kept_stages(ir::Module& m);

}  // namespace horizon::passes
