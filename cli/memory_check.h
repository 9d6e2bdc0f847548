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
/// `bytes_per_param` is the store's.
void check_host_memory(const ir::Module& model, const ir::Schedule* schedule, int64_t bytes_per_param, double budget);

/// The same refusal from a lower bound that takes time independent of the
/// layer count and is safe for any sizes (all in double): run before the
/// model is lowered or any plan is made, so `layers` 1e9 or `--batch` 1e9 is
/// refused at once with the numbers instead of hanging or failing to allocate.
/// `unstreamed`: the CPU reference step, whose activations live in host memory.
void check_run_size(const ir::Module& model, int64_t batch, int64_t seq, int64_t micro_batches, int64_t bytes_per_param,
                    bool unstreamed, double budget);

}  // namespace horizon::cli
