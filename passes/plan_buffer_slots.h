// plan_buffer_slots: the number of GPU weight slots and the prefetch
// distance, which insert_buffer_swap then fills with stream_in and bind.
// Two slots double-buffer: the next block's weights arrive while the
// current one computes. A recompute segment of K blocks needs its K blocks
// resident at once, plus one slot to prefetch into, so K + 1 slots avoid a
// third crossing of PCIe. The user may ask for more (deeper prefetch) or
// fewer (less memory, re-streaming). Prefetch is slots - 1.
// Needs: plan_recompute. Returns whether slots or prefetch changed.
#pragma once

#include <cstdint>

#include "passes/step_plan.h"

namespace horizon::passes {

bool plan_buffer_slots(StepPlan& plan);

/// The slots chosen for checkpoint interval K when the user asks for none: max(2, K + 1).
int64_t default_slots(int64_t checkpoint_every);

}  // namespace horizon::passes
