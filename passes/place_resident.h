// place_resident: takes the layers plan_resident chose out of the stream.
// The plain schedule streams every region: its weights bound from the
// store, its gradient kept in %grads, its norm share and update on the
// CPU. For a resident region the pass binds its planes in %resident
// instead, accumulates its gradient in %rgrad, replaces the CPU's norm
// share with the GPU's per-tensor sums of squares into %norms and its CPU
// update with a GPU one on its planes (after the clip factor the CPU
// derives from %norms, with clipping; right after the norm, without). The
// CPU then collects the GPU's shares once the backward is done. Needs:
// lower_to_schedule; runs before insert_offload and insert_buffer_swap,
// which then leave the resident regions alone. Returns whether any region
// became resident.
#pragma once

#include "ir/schedule.h"
#include "passes/step_plan.h"

namespace horizon::passes {

bool place_resident(const StepPlan& plan, ir::Schedule& schedule);

}  // namespace horizon::passes
