// The device memory a CudaScheduleExecutor allocates beyond the schedule's
// buffers, computed on the host from the same stage programs the executor
// builds (no GPU needed), so `horizon plan` can count it before anything is
// allocated: one stage executor per (stage, stream) that launches it, each
// with its program's scratch (bf16 operand copies, kernel workspaces,
// gradient staging) and, when the stage has GEMMs, a cuBLASLt workspace.
// The arena-plan form is the CUDA backend's answer to the planner's
// question (passes::ExecutorReserve::stage_scratch). Both throw a UserError
// naming the model key and the fix for a model the CUDA kernels cannot run
// (codegen/cuda/cuda_limits.h).
#pragma once

#include <cstdint>
#include <vector>

#include "ir/module.h"
#include "ir/schedule.h"

namespace horizon::runtime::cuda {

/// `graph` is the lowered module `schedule` launches.
int64_t planned_stage_scratch(const ir::Schedule& schedule, const ir::Module& graph);

/// Before the schedule exists: the stages of `arenas` (plan_memory's, one
/// per stage the step launches, all on the compute stream) at `mb_batch`
/// sequences of `seq` tokens.
int64_t planned_stage_scratch(const ir::Module& graph, const std::vector<ir::ArenaPlan>& arenas, int64_t mb_batch,
                              int64_t seq);

}  // namespace horizon::runtime::cuda
