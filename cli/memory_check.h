// `horizon train` checks the host memory a run will take against what the
// machine has available before it allocates anything: a model that cannot
// fit fails in a second, naming what it needs and what would make it fit,
// instead of minutes later in the kernel's OOM killer with nothing saved.
#pragma once

#include <cstdint>
#include <string>

#include "ir/module.h"
#include "ir/schedule.h"

namespace horizon::cli {

/// Throws UserError when the run does not fit in `budget` bytes (<= 0: what
/// /proc/meminfo calls MemAvailable; nothing is checked where it cannot be
/// read). `schedule` is the streamed step's (its host buffers counted), or
/// null for the unstreamed CPU step (store plus fp32 gradients).
/// `bytes_per_param` is the store's, `clip` whether the run clips.
void check_host_memory(const ir::Module& model, const ir::Schedule* schedule, int64_t bytes_per_param, bool clip,
                       double budget);

}  // namespace horizon::cli
