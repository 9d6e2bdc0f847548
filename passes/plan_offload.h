// plan_offload: decides where activation checkpoints and gradients live
// (insert_offload then moves the checkpoints to the host).
// --host-checkpoints on and auto put checkpoints in pinned host memory,
// which keeps GPU memory independent of depth (a 64-layer model needs what
// a 16-layer one does); off keeps them on the GPU, with plan_recompute's K
// chosen so that they fit. For auto this is provisional: the GPU memory
// resident layers and kept activations leave may take them back
// (plan_gpu_checkpoints, after those passes). Gradients leave the GPU as
// soon as a block's backward ends, into host slabs: one per region when
// global-norm clipping must see every gradient before any update, two in
// rotation otherwise. Needs: plan_recompute. Returns whether a placement
// changed.
#pragma once

#include "passes/step_plan.h"

namespace horizon::passes {

bool plan_offload(StepPlan& plan);

}  // namespace horizon::passes
