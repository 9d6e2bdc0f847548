// The second half of the compiler: from the differentiated graph IR to the
// schedule IR of one training step, run by the pass manager
// (passes/pass_manager.h) like the graph pipeline. The planning passes
// decide, in order: plan_memory (every transient placed in the GPU arena),
// plan_recompute (checkpoint interval K), plan_offload (where checkpoints
// live), plan_buffer_slots (weight slots, prefetch distance), plan_resident
// (layers kept on the GPU with what memory is left), plan_kept_activations
// (blocks whose activations stay on the GPU with what is left then),
// plan_gpu_checkpoints (--host-checkpoints auto: the checkpoints on the GPU
// if layers stream and what is left holds them). Then the schedule
// passes write and rewrite the program: lower_to_schedule the plain one
// (every block input and gradient kept on the GPU, every layer's weights
// bound from the store, no events), place_resident keeps the planned
// layers on the GPU, insert_recompute trades the kept inputs for
// checkpoints and recompute (and keeps the planned blocks' activations), insert_offload moves gradients and
// checkpoints to the host, insert_buffer_swap streams the weights through
// the slots, insert_events synchronizes the streams, and the verifier
// proves the result race-free. Before the schedule exists the IR the
// manager prints and verifies is the step plan (passes/step_plan.h).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "ir/module.h"
#include "ir/schedule.h"
#include "passes/executor_reserve.h"
#include "passes/pass_manager.h"

namespace horizon::passes {

struct StepPlan;

/// What the user asked for and the budgets the planning passes must respect.
/// Zero means "choose for me".
struct StreamingOptions {
  int64_t batch = 1;
  int64_t seq = 128;
  int64_t micro_batches = 1;
  int64_t checkpoint_every = 0;  // K; 0: the smallest K whose checkpoints fit the GPU budget (1 when they do)
  int64_t slots = 0;             // weight slots; 0: 2, or more when K needs them and memory allows
  int64_t prefetch = 0;          // 0: slots - 1
  int host_checkpoints = -1;     // -1 or 1: pinned host (GPU memory independent of depth); 0: on the GPU
  bool clip = true;              // global-norm clipping (defers updates to after the norm)
  // --grad-offload bf16: streamed gradients are cast to bf16 on the GPU
  // (after their fp32 accumulation) and offload half the bytes into
  // half-size slabs (docs/bf16-gradient-offload.md).
  bool bf16_gradients = false;
  int64_t bytes_per_param = 8;  // host store: 8 with bf16 Adam moments, 12 with fp32
  // Regions (embedding, blocks, head, in forward order) whose weights,
  // optimizer state and gradient stay on the GPU and are updated there:
  // -1 as many as fit in what the streaming buffers leave of gpu_bytes, 0
  // none (every layer streams; GPU memory independent of depth), N the first N.
  int64_t resident = 0;
  // Blocks whose activations stay on the GPU from their forward to their
  // backward, which then does not recompute them (passes/plan_kept_activations):
  // -1 as many as fit in what resident layers leave of gpu_bytes, 0 none
  // (every block recomputes its forward), N the first N.
  int64_t keep_activations = 0;
  double gpu_bytes = 80e9;       // budget for the GPU
  double gpu_reserve_bytes = 0;  // of it, kept free for anything else the run allocates
  ExecutorReserve executor;      // what the executor allocates beyond the schedule's buffers (kernel scratch)
  double host_bytes = 125.0 * (1ull << 30);
};

/// Names of the schedule passes in order, for --emit and HORIZON_DUMP_IR.
std::vector<std::string> schedule_pass_names();

/// `graph` must have been through passes::lower (it has the .bwd stages).
/// Runs the schedule pipeline with the pass manager's instrumentation; when
/// it stops after a pass it prints the IR there (the step plan, or the
/// schedule so far) to stop_output (else the log) and returns the schedule
/// so far, or after a planning pass one with only the model's name and the
/// arena plans. `decided`, if not null, receives the step plan the planning
/// passes decided (their reasons, for reports such as `horizon plan`).
ir::Schedule lower_to_schedule(const ir::Module& graph, const StreamingOptions& options,
                               const PassOptions& pass_options, StepPlan* decided = nullptr);
/// The same with `stop_after` (a pass name) and `log`.
ir::Schedule lower_to_schedule(const ir::Module& graph, const StreamingOptions& options,
                               const std::string& stop_after = "", std::ostream* log = nullptr);

}  // namespace horizon::passes
