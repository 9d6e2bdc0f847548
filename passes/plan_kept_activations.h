// plan_kept_activations: which blocks keep their activations on the GPU from
// the forward to the backward, so their backward runs block.kept.bwd and
// does not recompute the forward's matmuls and attention
// (passes/add_kept_stages.h). Recomputing every block costs a quarter of the
// step's FLOPs (8·N·T instead of 6·N·T); keeping a block costs
// kept_mb_bytes per micro-batch of GPU memory for the whole step. So the
// GPU memory every other decision leaves goes to kept blocks, the first
// ones first (resident layers come first too, and a resident block's
// backward is compute-bound, where the saving shows; a streamed block's
// backward may wait on its weights anyway). Blocks are kept only when
// every block's input is checkpointed (K = 1): with longer recompute
// segments the forward is re-run anyway. Runs after plan_resident: layers
// that stay on the GPU save PCIe traffic and CPU optimizer time every step,
// and take precedence. Returns whether any block keeps its activations.
#pragma once

#include "passes/step_plan.h"

namespace horizon::passes {

bool plan_kept_activations(StepPlan& plan);

}  // namespace horizon::passes
