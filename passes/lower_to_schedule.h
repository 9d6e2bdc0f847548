// lower_to_schedule (the emitter): writes the schedule IR of one step from
// the plan the passes made. Forward: embed, then every block, each block's
// weights streamed once for all micro-batches (layer-major), its input saved
// every K blocks. Backward: head.bwd (loss and its gradient), then per
// segment of K blocks from the last: restore the checkpoint, recompute the
// segment's forward to regenerate block inputs, run block.bwd from the last
// block of the segment down; embed.bwd last. Each stage instance's gradient
// accumulates over micro-batches on the GPU and is offloaded when its last
// micro-batch is done, then updated by the CPU optimizer (after the global
// gradient norm when clipping). A load reuses a resident region, else takes
// the least recently used slot not needed before it; loads run up to
// `prefetch` uses ahead. Synchronization is derived by
// ScheduleBuilder. Needs: all planning passes and plan_memory.
#pragma once

#include "ir/schedule.h"
#include "passes/step_plan.h"

namespace horizon::passes {

ir::Schedule emit_schedule(const StepPlan& plan);

}  // namespace horizon::passes
