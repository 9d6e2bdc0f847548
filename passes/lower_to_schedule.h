// lower_to_schedule: writes the plain schedule IR of one step from the plan
// the planning passes made, in program order and without synchronization
// (insert_events derives it) or weight slots (insert_buffer_swap's): every
// streamed region's weights are bound straight from the store. Forward:
// embed, then every block, each block's weights bound once for all
// micro-batches (layer-major), its input saved every K blocks. Backward:
// head.bwd (loss and its gradient), then per segment of K blocks from the
// last: restore the checkpoint, recompute the segment's forward to
// regenerate block inputs, run block.bwd from the last block of the segment
// down; embed.bwd last. Each stage instance's gradient accumulates over
// micro-batches on the GPU and is offloaded when its last micro-batch is
// done, then updated by the CPU optimizer (after the global gradient norm
// when clipping); a resident region's stays and is updated on the GPU.
// Needs: every planning pass. Returns the schedule.
#pragma once

#include "ir/schedule.h"
#include "passes/step_plan.h"

namespace horizon::passes {

ir::Schedule emit_schedule(const StepPlan& plan);

}  // namespace horizon::passes
