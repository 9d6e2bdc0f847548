// `--resident auto|0|N`, shared by train, plan and compile: how many layers
// (embedding, blocks, head, in forward order) keep their weights, optimizer
// state and gradient on the GPU (passes/place_resident.h). `auto` gives
// them whatever GPU memory the streaming buffers and the CUDA executor's
// scratch leave; 0 streams every layer, so GPU memory does not grow with
// depth.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>

#include "ir/module.h"
#include "ir/schedule.h"
#include "passes/schedule_pipeline.h"

namespace horizon::cli {

/// -1 for "auto", else the count; UserError naming `command` otherwise.
int64_t parse_resident(const std::string& command, const std::string& value);

/// `--keep-activations auto|0|N` (passes/plan_kept_activations.h): -1 for
/// "auto", else the count of blocks; UserError naming `command` otherwise.
int64_t parse_keep_activations(const std::string& command, const std::string& value);

/// Help text of --keep-activations, shared by train, plan and compile.
inline constexpr const char* kKeepActivationsHelp =
    "blocks whose activations stay on the GPU until their backward, which then does not recompute the\n"
    "forward's matmuls and attention: auto (as many as the GPU memory left by resident layers holds),\n"
    "0 (recompute every block: least GPU memory) or a count";

/// The blocks `schedule` runs with kept activations.
int64_t kept_blocks(const ir::Schedule& schedule);

/// The layers `schedule` keeps on the GPU (those it updates on compute).
int64_t resident_layers(const ir::Schedule& schedule);

/// GPU memory kept free of resident layers beyond the executor's scratch:
/// the CUDA context's own allocations and fragmentation.
inline constexpr double kResidentMarginBytes = 1.0 * (1ull << 30);

/// The CUDA executor's reserve for plan_resident: its stage scratch (where
/// this build has the CUDA backend), kResidentMarginBytes and, with
/// `evaluation`, what the GPU evaluator allocates next to the executor.
passes::ExecutorReserve cuda_executor_reserve(bool evaluation = false);

/// passes::lower_to_schedule for a CUDA run: the pipeline runs once, with
/// cuda_executor_reserve(evaluation) kept free of resident layers.
ir::Schedule lower_for_gpu(const ir::Module& graph, passes::StreamingOptions options,
                           const passes::PassOptions& pass_options = {}, bool evaluation = false,
                           passes::StepPlan* decided = nullptr);

}  // namespace horizon::cli
