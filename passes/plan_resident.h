// plan_resident: which layers stay on the GPU (place_resident then keeps
// them there). Streaming a layer costs its weights over PCIe in every step
// and its gradient back, and its AdamW runs on the CPU at host-memory
// speed; a layer whose planes (bf16 weight, the master's low half, both
// moments) and fp32 gradient are kept on the GPU costs neither and is
// updated by a GPU kernel at HBM speed. So whatever GPU memory the
// streaming buffers leave is given to layers, in forward order (embedding,
// block 0, 1, ..., head): the next step's forward needs the first layers
// first, and their updates then take no CPU time before it. What the
// executor allocates beyond the schedule's buffers
// (passes/executor_reserve.h) is kept free. Regions involved in tied
// weights stream (a head that binds the embedding reads it through its
// slot). The last planning pass, so every streaming decision has taken its
// memory first. Needs: plan_memory. Returns whether any region became
// resident.
#pragma once

#include "passes/step_plan.h"

namespace horizon::passes {

bool plan_resident(StepPlan& plan);

}  // namespace horizon::passes
