// plan_memory: static offsets of every transient tensor of each stage launch
// in one GPU arena. A launch's transients are the instruction results that are
// neither stage outputs nor parameter gradients (those live in the schedule's
// buffers), minus values that never leave a fused group, plus the scratch an
// instruction uses while it runs (the logits chunks of a fused lm head loss,
// live for that instruction only). Two transients share
// bytes only when their live ranges (definition to last use, widened to whole
// fused groups) are disjoint; placement is greedy, largest first, lowest fit.
// The arena's size is the largest stage plan, and it is exact: the executors
// place every transient at these offsets. Needs: fuse_elementwise (the group
// attributes) and the batch shape. Returns whether the plan changed.
#pragma once

#include <cstdint>

#include "ir/module.h"
#include "ir/schedule.h"
#include "passes/step_plan.h"

namespace horizon::passes {

/// Offsets of one stage's transients for `batch` sequences of length `seq`.
ir::ArenaPlan plan_stage_arena(const ir::Stage& stage, int64_t batch, int64_t seq);

/// The arena scratch of a fused lm head loss (linear_cross_entropy[_grad]):
/// the fp32 logits of one chunk of rows and, for the gradient, their bf16
/// d_logits, the operand of the dh and dw GEMMs. The CUDA executor lays the
/// chunk out exactly so; the CPU keeps its chunk in host memory.
struct LossChunkScratch {
  int64_t rows = 0;       // rows per chunk: the op's `chunk`, at most N
  int64_t logits = 0;     // offset of fp32 [rows, V]
  int64_t d_logits = -1;  // offset of bf16 [rows, V]; -1 for the forward op
  int64_t bytes = 0;
};
/// The scratch of instruction `in` of `stage` at batch x seq; bytes = 0 for
/// every op that needs none.
LossChunkScratch loss_chunk_scratch(const ir::Stage& stage, const ir::Instr& in, int64_t batch, int64_t seq);

bool plan_memory(StepPlan& plan);

/// Alignment of every arena offset (a GPU's widest vector access and cache line).
inline constexpr int64_t kArenaAlignment = 256;

}  // namespace horizon::passes
