// insert_recompute: trades the plain schedule's kept activations for
// checkpoints and recompute. lower_to_schedule keeps every block's input in
// %acts until its backward; this pass keeps only two in flight (%x0, %x1,
// alternating along the forward) and saves every K-th block's input to
// %ckpt on the GPU (a save before each such launch). Before the backward of
// each segment of K blocks [a, b], from the last, it binds blocks a .. b-1
// again and recomputes their forward from checkpoint a into %seg (K - 1
// inputs), where each block's backward then reads its input (block a's is
// the checkpoint). The first plan_kept_activations' blocks keep more: their
// forward launches run block.keep, which also writes the values their
// backward would recompute with matmuls and attention to their share of
// %kept (per block and micro-batch), and their backward runs
// block.kept.bwd, which reads them there (passes/add_kept_stages.h).
// K is plan_recompute's; insert_offload then moves the
// checkpoints to the host where plan_offload says. Needs:
// lower_to_schedule; runs before insert_buffer_swap, which streams the
// recompute's weights like any other use. Returns whether it changed the
// schedule (always when %acts is there: it goes).
#pragma once

#include "ir/schedule.h"
#include "passes/step_plan.h"

namespace horizon::passes {

bool insert_recompute(const StepPlan& plan, ir::Schedule& schedule);

}  // namespace horizon::passes
