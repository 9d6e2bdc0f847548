// plan_offload: decides where activation checkpoints and gradients live
// (insert_offload then moves the checkpoints to the host).
// --host-checkpoints on keeps checkpoints in pinned host memory, which keeps
// GPU memory independent of depth (a 64-layer model needs what a 16-layer
// one does); off keeps them on the GPU, with plan_recompute's K chosen so
// that they fit. auto keeps them on the GPU when they fit its budget with
// everything else the step allocates there (streaming buffers, arena, the
// executor's reserve; resident layers take what is left after them), since
// there they cost no D2H in forward and no H2D in backward, where the
// weights' stream_in competes for the link; otherwise on the host. The plan
// records why (StepPlan::checkpoint_place_why, printed by `horizon plan`).
// A backend that cannot run the model (its executor reserve a UserError)
// leaves them on the host.
// Gradients leave the GPU as soon as a block's backward ends, into host
// slabs: one per region when global-norm clipping must see every gradient
// before any update, two in rotation otherwise. Needs: plan_recompute,
// plan_memory. Returns whether a placement changed.
#pragma once

#include "passes/step_plan.h"

namespace horizon::passes {

bool plan_offload(StepPlan& plan);

}  // namespace horizon::passes
