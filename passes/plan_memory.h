// plan_memory: static offsets of every transient tensor of each stage launch
// in one GPU arena. A launch's transients are the instruction results that are
// neither stage outputs nor parameter gradients (those live in the schedule's
// buffers), minus values that never leave a fused group. Two transients share
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

bool plan_memory(StepPlan& plan);

/// Alignment of every arena offset (a GPU's widest vector access and cache line).
inline constexpr int64_t kArenaAlignment = 256;

}  // namespace horizon::passes
