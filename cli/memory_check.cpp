#include "cli/memory_check.h"

#include <algorithm>
#include <cmath>

#include "plan/memory_table.h"
#include "support/error.h"
#include "support/numbers.h"
#include "support/process_memory.h"

namespace horizon::cli {

void check_host_memory(const ir::Module& model, const ir::Schedule* schedule, int64_t bytes_per_param, double budget) {
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
  if (schedule && schedule->config.clip)
    fixes += "--clip 0 --early-updates (two gradient slabs instead of one per layer: up to " +
             format_bytes(params * 4) + " less; a non-finite step can then only skip the tensors it blew up); ";
  if (schedule && !schedule->config.bf16_gradients)
    fixes += "--grad-offload bf16 (gradient slabs of half the size: up to " + format_bytes(params * 2) + " less); ";
  if (bytes_per_param > 8) fixes += "--moments bf16 (8 B/param instead of 12); ";
  if (bytes_per_param > 6) fixes += "--moments 8bit (6 B/param); ";
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

void check_run_size(const ir::Module& model, int64_t batch, int64_t seq, int64_t micro_batches, int64_t bytes_per_param,
                    bool unstreamed, double budget) {
  const bool measured = budget <= 0;
  if (measured) budget = static_cast<double>(available_memory_bytes());
  if (budget <= 0) return;
  double params = 0;
  for (const ir::Stage& st : model.stages) {
    if (ir::is_derived_stage(st.name)) continue;  // binds its base stage's parameters
    double stage = 0;
    for (const ir::Param& p : st.params) {
      double n = 1;
      for (const ir::Dim& d : st.values[static_cast<size_t>(p.value)].type.shape) n *= static_cast<double>(d.value);
      stage += n;
    }
    params += stage * static_cast<double>(std::max<int64_t>(st.instances, 1));
  }
  const double tokens = static_cast<double>(batch) * static_cast<double>(seq);
  const double data = tokens * 8;  // int32 tokens and targets
  double activations = 0;
  if (unstreamed) {
    // At least one fp32 hidden state per layer and the logits of a micro-batch.
    const double hidden = model.config_number("hidden", 0), layers = model.config_number("layers", 0),
                 vocab = model.config_number("vocab", 0);
    activations = tokens / static_cast<double>(micro_batches) * (layers * hidden + vocab) * 4;
  }
  const double store = params * static_cast<double>(bytes_per_param);
  const double need = store + data + activations;
  if (need <= budget) return;
  std::string fixes;
  if (bytes_per_param > 8) fixes += "--moments bf16 (8 B/param instead of 12); ";
  if (bytes_per_param > 6) fixes += "--moments 8bit (6 B/param); ";
  throw UserError(model.name + " does not fit: host memory: the step needs at least " + format_bytes(need) +
                  " (host store " + format_bytes(store) + " for " +
                  format_count(static_cast<int64_t>(std::min(params, 9e18))) + " parameters, batch tokens " +
                  format_bytes(data) + (unstreamed ? ", activations " + format_bytes(activations) : std::string()) +
                  "), " +
                  (measured ? "this machine has " + format_bytes(budget) + " available"
                            : "--host-mem allows " + format_bytes(budget)) +
                  "; nothing was allocated. To fit: " + fixes + "a smaller model, --batch or --seq" +
                  (unstreamed ? " (or more --micro-batches)" : ""));
}

}  // namespace horizon::cli
