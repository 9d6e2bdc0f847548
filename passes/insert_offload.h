// insert_offload: moves the activation checkpoints to pinned host memory
// where plan_offload says (the default: GPU memory then does not grow with
// depth). %ckpt becomes a host buffer and every save a D2H copy; before the
// backward of each recompute segment [a, b] a restore copies checkpoint a
// back into %seg, which now holds all K inputs of a segment, twice: segments
// alternate between its two halves, so a restore overlaps the previous
// segment's backward instead of waiting for it. The recomputes and
// backward launches read their inputs there. (The gradients' offload and
// host slabs are still written by lower_to_schedule.) Needs:
// insert_recompute. Returns whether it moved anything.
#pragma once

#include "ir/schedule.h"
#include "passes/step_plan.h"

namespace horizon::passes {

bool insert_offload(const StepPlan& plan, ir::Schedule& schedule);

}  // namespace horizon::passes
