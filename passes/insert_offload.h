// insert_offload: moves gradients and activation checkpoints to pinned host
// memory. Gradients: the plain schedule keeps every streamed region's in
// %grads; the pass gives the backward stages two accumulators in turn
// (%gacc0, %gacc1: GPU memory independent of depth), inserts an offload of
// each region's gradient right after its last micro-batch (and of the
// head's tied gradient into %slab_tied), and points the CPU's norm and
// update at the host slab it lands in: one per region when global-norm
// clipping must see every gradient before any update, two in turn
// otherwise. With StreamingOptions::bf16_gradients a cast on the compute
// stream turns the accumulator's fp32 into bf16 in place (the pair layout
// of support/bf16_gradient.h) before each offload, which then moves half the
// bytes into a slab of half the size (config.bf16_gradients). Checkpoints,
// where plan_offload says (the default): %ckpt becomes a host buffer and
// every save a D2H copy; before the backward of
// each recompute segment [a, b] a restore copies checkpoint a back into
// %seg, which now holds all K inputs of a segment, twice: segments
// alternate between its two halves, so a restore overlaps the previous
// segment's backward instead of waiting for it. The recomputes and
// backward launches read their inputs there. Needs: insert_recompute.
// Returns whether it moved anything.
#pragma once

#include "ir/schedule.h"
#include "passes/step_plan.h"

namespace horizon::passes {

bool insert_offload(const StepPlan& plan, ir::Schedule& schedule);

}  // namespace horizon::passes
