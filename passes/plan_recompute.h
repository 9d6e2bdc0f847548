// plan_recompute: chooses K, the interval of activation checkpoints, at
// which insert_recompute then inserts the saves and recomputes. Block
// inputs are saved every K blocks; backward restores a checkpoint and
// recomputes the forward of the blocks after it to regenerate their inputs,
// and each block's backward recomputes its own internals from its input, so
// a block's weights cross PCIe twice per step (forward; backward with its
// recompute) as long as the K blocks of a segment fit the weight slots.
// K is the user's, or 1 (checkpoint every block: the least recompute) unless
// the checkpoints kept on the GPU do not fit its budget, then the smallest K
// that fits (with plan_buffer_slots' default slots for that K). Needs:
// plan_memory (the arena counts against the GPU budget). Returns whether K
// changed.
#pragma once

#include "passes/step_plan.h"

namespace horizon::passes {

bool plan_recompute(StepPlan& plan);

}  // namespace horizon::passes
