// The decisions the planning passes make about one training step, carried
// from pass to pass until lower_to_schedule emits the schedule: the model's
// facts (regions, widths), the user's options and budgets, and what each
// pass chose. Printing a StepPlan is how `--emit=<pass>` shows a planning
// pass's result.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ir/module.h"
#include "ir/param_layout.h"
#include "ir/schedule.h"
#include "passes/schedule_pipeline.h"

namespace horizon::passes {

struct StepPlan {
  const ir::Module* graph = nullptr;
  StreamingOptions options;
  ir::ParamLayout params;
  int64_t layers = 0, hidden = 0;
  int64_t mb_sequences = 0;     // sequences per micro-batch
  int64_t bytes_per_param = 8;  // host store: w_hi, w_lo, m, v
  int64_t slot_elements = 0;    // largest slot (a region plus what it binds from others)
  int64_t tied_elements = 0;    // tensors the head binds from other regions (tied embeddings)

  // Decisions.
  int64_t checkpoint_every = 1;            // plan_recompute
  bool host_checkpoints = true;            // plan_offload
  std::string checkpoint_place_why;        // plan_offload, for --host-checkpoints auto: the bytes that decided
  bool clip = true;                        // plan_offload: per-region slabs when clipping
  int64_t slots = 2;                       // plan_buffer_slots
  int64_t prefetch = 1;                    // plan_buffer_slots
  std::vector<ir::ArenaPlan> arena_plans;  // plan_memory
  int64_t arena_bytes = 0;
  std::vector<char> resident;              // plan_resident: per region, kept (and updated) on the GPU
  std::optional<double> executor_reserve;  // executor_reserve_bytes, once asked (plan_memory fixed what it depends on)
  int64_t kept_blocks = 0;                 // plan_kept_activations: blocks 0 .. kept_blocks-1 keep their activations

  int64_t blocks() const { return layers; }
  /// The block stage reads packed documents' %positions and %segments
  /// (passes/add_document_inputs): the batch carries them in buffers of their own.
  /// A DPO head (passes/add_preference_loss): the batch carries each row's
  /// reference log-probability, and the step returns each row's policy one.
  bool preference() const {
    const ir::Stage* head = graph ? graph->find_stage("head") : nullptr;
    return head && head->find_value("reference") >= 0;
  }
  bool packed_documents() const {
    const ir::Stage* block = graph ? graph->find_stage("block") : nullptr;
    return block && block->find_value("segments") >= 0;
  }
  int64_t checkpoints() const { return (layers + checkpoint_every - 1) / checkpoint_every; }
  /// Activation slots of %seg per micro-batch: the inputs of a recompute
  /// segment's blocks after its first (K - 1); with host checkpoints all K,
  /// twice, so the next segment's checkpoint is restored while this one's
  /// backward still reads its own.
  int64_t segment_slots() const { return host_checkpoints ? 2 * checkpoint_every : checkpoint_every - 1; }
  /// Bytes of one micro-batch's residual stream (fp32).
  int64_t mb_activation_bytes() const { return mb_sequences * options.seq * hidden * 4; }
  /// Bytes one kept block saves per micro-batch (ir/kept_activations.h); 0
  /// when the graph has no kept stages.
  int64_t kept_mb_bytes() const;
  bool is_resident(int region) const {
    return region < static_cast<int>(resident.size()) && resident[static_cast<size_t>(region)];
  }
  int64_t resident_regions() const;
  /// The largest slot of a streamed region (0 when every region is resident).
  int64_t streamed_slot_elements() const;
  /// GPU bytes a resident region takes: its planes (bytes_per_param) and its fp32 gradient.
  int64_t resident_bytes(int region) const;
  /// GPU bytes of everything but the arena, for the budget checks.
  int64_t gpu_bytes_without_arena() const;
  int64_t host_bytes() const;
  /// Bytes of a host slab of `elements` offloaded gradients: fp32, or the
  /// bf16 pair layout (support/bf16_gradient.h) with options.bf16_gradients.
  int64_t grad_slab_bytes(int64_t elements) const;
  std::string str() const;
};

/// Facts of the model and the options; no decisions yet.
StepPlan make_step_plan(const ir::Module& graph, const StreamingOptions& options);

/// The step plan's verifier, run by the pass manager after each planning
/// pass: the decisions are within the bounds lower_to_schedule relies on
/// (1 <= K <= layers, 2 <= slots, 1 <= prefetch < slots, one arena plan per
/// launched stage once planned, one residency flag per region once placed,
/// kept blocks only with K = 1 and kept stages).
/// std::logic_error naming the field: a planning pass broke it.
void verify_step_plan(const StepPlan& plan);

}  // namespace horizon::passes
