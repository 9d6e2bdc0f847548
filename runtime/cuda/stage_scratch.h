// The device memory a CudaScheduleExecutor allocates beyond the schedule's
// buffers, computed on the host from the same stage programs the executor
// builds (no GPU needed), so `horizon plan` can count it before anything is
// allocated: one stage executor per (stage, stream) that launches it, each
// with its program's scratch (bf16 operand copies, kernel workspaces,
// gradient staging) and, when the stage has GEMMs, a cuBLASLt workspace.
#pragma once

#include <cstdint>

#include "ir/module.h"
#include "ir/schedule.h"

namespace horizon::runtime::cuda {

/// `graph` is the lowered module `schedule` launches.
int64_t planned_stage_scratch(const ir::Schedule& schedule, const ir::Module& graph);

}  // namespace horizon::runtime::cuda
