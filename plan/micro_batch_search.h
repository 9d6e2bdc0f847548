// The largest micro-batch a model trains with on a GPU budget, found by
// lowering the schedule at trial sizes: the planner's answer to "how many
// sequences fit at once", with every other choice (checkpoint interval,
// slots, where checkpoints live) made as the real plan would make it.
#pragma once

#include <cstdint>
#include <functional>

#include "ir/module.h"
#include "passes/schedule_pipeline.h"

namespace horizon::plan {

/// What an executor allocates for a schedule beyond its buffers (the CUDA
/// stage executors' scratch, which grows with the micro-batch too).
using ExtraGpuBytes = std::function<double(const ir::Schedule&)>;

/// Sequences per micro-batch (of options.seq tokens) whose schedule's GPU
/// buffers, plus `extra` of it where given, fit options.gpu_bytes; 0 if not
/// even one does. Searches 1..limit by doubling, then bisection (GPU bytes
/// grow with the micro-batch).
int64_t largest_micro_batch(const ir::Module& graph, const passes::StreamingOptions& options, int64_t limit = 1 << 16,
                            const ExtraGpuBytes& extra = {});

}  // namespace horizon::plan
