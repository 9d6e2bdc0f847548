#include "cli/memory_check.h"

#include <cmath>

#include "plan/memory_table.h"
#include "support/error.h"
#include "support/numbers.h"
#include "support/process_memory.h"

namespace horizon::cli {

void check_host_memory(const ir::Module& model, const ir::Schedule* schedule, int64_t bytes_per_param, bool clip,
                       double budget) {
  const bool measured = budget <= 0;
  if (measured) budget = static_cast<double>(available_memory_bytes());
  if (budget <= 0) return;
  const double params = static_cast<double>(plan::stored_params(model));
  plan::MemoryTable need;
  if (schedule) {
    need = plan::host_memory(*schedule, model, budget);
  } else {
    need.budget = budget;
    need.total = params * static_cast<double>(bytes_per_param + 4);  // the store and one fp32 gradient per parameter
  }
  if (need.fits()) return;
  std::string fixes;
  if (clip && schedule)
    fixes += "--clip 0 (two gradient slabs instead of one per layer: up to " + format_bytes(params * 4) +
             " less); ";
  if (bytes_per_param > 8) fixes += "--moments bf16 (8 B/param instead of 12); ";
  fixes += "a machine with more RAM, or --host-mem SIZE if this machine's available memory is misreported";
  // Worded like `horizon plan`'s refusal, which bench/compare recognizes.
  throw UserError(model.name + " does not fit: host memory: the step needs " + format_bytes(need.total) +
                  " (host store " + format_bytes(params * static_cast<double>(bytes_per_param)) + " at " +
                  std::to_string(bytes_per_param) + " B/param, plus gradients" +
                  (schedule ? ", checkpoints and pinned buffers" : "") + "), " +
                  (measured ? "this machine has " + format_bytes(budget) + " available"
                            : "--host-mem allows " + format_bytes(budget)) +
                  "; nothing was allocated. To fit: " + fixes);
}

}  // namespace horizon::cli
