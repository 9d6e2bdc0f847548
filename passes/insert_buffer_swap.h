// insert_buffer_swap: the number of GPU weight slots and the prefetch
// distance. Two slots double-buffer: the next block's weights arrive while
// the current one computes. A recompute segment of K blocks needs its K
// blocks resident at once, plus one slot to prefetch into, so K + 1 slots
// avoid a third crossing of PCIe. The user may ask for more (deeper
// prefetch) or fewer (less memory, re-streaming). Prefetch is slots - 1.
// Needs: insert_recompute. Returns whether slots or prefetch changed.
#pragma once

#include "passes/step_plan.h"

namespace horizon::passes {

bool insert_buffer_swap(StepPlan& plan);

}  // namespace horizon::passes
