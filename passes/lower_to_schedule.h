// lower_to_schedule: writes the plain schedule IR of one step, in program
// order: every layer streamed with its weights bound straight from the
// store, every block's input kept in %acts until its backward, every
// layer's gradient kept in %grads until its CPU norm share and update, and
// no synchronization. The rewriting passes then make it the step that runs:
// place_resident, insert_recompute, insert_offload, insert_buffer_swap,
// insert_events. Forward: embed, then every block, each block's weights
// bound once for all micro-batches (layer-major). Backward: head.bwd (loss
// and its gradient), the blocks from the last, embed.bwd last; a layer's
// gradient accumulates over micro-batches, then the CPU measures its share
// of the global norm (clipping: all updates follow the backward, in forward
// order) or updates it at once. Needs: every planning pass (their decisions
// go into the schedule's config and arena plans). Returns the schedule.
#pragma once

#include "ir/schedule.h"
#include "passes/step_plan.h"

namespace horizon::passes {

ir::Schedule emit_schedule(const StepPlan& plan);

}  // namespace horizon::passes
