// A schedule checked against the graph it was compiled from and the host
// store it updates, and resolved for execution: every operand range inside
// its buffer, copies in matching src/dst pairs, events that exist, each
// launch's operands mapped by role onto its stage's inputs, outputs and
// gradients, each optimizer_step's slabs, and every tied tensor's place in
// its binder's gradient. Both executors of the schedule — the emulated
// device (schedule_executor) and the GPU (cuda/cuda_schedule_executor) —
// start from this, so they accept the same programs and read the same bytes
// for the same role; a bad schedule fails here naming its instruction
// instead of corrupting memory.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "ir/module.h"
#include "ir/schedule.h"
#include "runtime/host_store.h"

namespace horizon::runtime {

/// A launch or recompute with its operands resolved to the stage's values.
struct LaunchPlan {
  const ir::Stage* stage = nullptr;
  const ir::ArenaPlan* arena_plan = nullptr;
  int region = -1;
  std::vector<int64_t> slot_offsets;  // per parameter: elements into the slot (and into the gradient)
  int64_t slot_elements = 0, region_elements = 0;
  ir::Range weights, grad, grad_tied, arena;
  std::vector<ir::Range> inputs, outputs;  // per Stage::inputs / Stage::outputs

  /// Where the gradient of the parameter at `slot_offset` (elements into the
  /// slot) lives: `grad` at the same offset for the region's own tensors,
  /// `grad_tied` after the region for tensors bound from another region.
  /// Returns the range and the element offset into it.
  std::pair<const ir::Range*, int64_t> gradient_home(int64_t slot_offset) const {
    if (slot_offset < region_elements) return {&grad, slot_offset};
    return {&grad_tied, slot_offset - region_elements};
  }
};

/// An optimizer_step: the region it updates and the slabs holding its
/// gradient; or, on the GPU, a resident region's gradient and planes.
struct UpdatePlan {
  int region = -1;
  ir::Range grad, grad_tied;  // grad_tied.buffer < 0 when the region has no tied tensor
  bool on_device = false;     // a compute-stream update of a resident region:
  ir::Range params, scale;    // its %resident planes, and the clip factor (scale.buffer < 0: none, 1/M)
};

/// A grad_norm on a GPU stream: a resident region's gradient, summed per
/// tensor (in the region's tensor order, as doubles) into host memory.
struct DeviceNorm {
  int region = -1;
  ir::Range grad, norms;
};

/// A cast (config.bf16_gradients): `elements` fp32 gradients at the start
/// of a GPU range, into the bf16 pair layout in place (support/bf16_gradient.h).
struct CastPlan {
  ir::Range src;
  int64_t elements = 0;
};

struct ResolvedSchedule {
  /// Validates `schedule` against `graph` (passes::lower'd) and `store` (laid
  /// out from it); throws UserError naming the first bad instruction.
  ResolvedSchedule(const ir::Schedule& schedule, const ir::Module& graph, const HostStore& store);
  // Plans point into `schedule` and `updates`: the object stays where it was built.
  ResolvedSchedule(const ResolvedSchedule&) = delete;
  ResolvedSchedule& operator=(const ResolvedSchedule&) = delete;

  ir::Schedule schedule;
  const ir::Module& graph;
  const HostStore& store;
  int64_t micro_batches = 1, mb_batch = 0, seq = 0;

  int store_buffer = -1, tokens_buffer = -1, targets_buffer = -1, loss_buffer = -1;
  int positions_buffer = -1, segments_buffer = -1;  // packed documents only
  int reference_buffer = -1, logps_buffer = -1;     // DPO only: one float per row
  int64_t store_bytes_per_param = 0;
  std::vector<int64_t> store_offsets;  // per region: its byte offset in %store

  std::vector<std::vector<int>> programs;  // per stream: instruction indices in program order
  std::map<int, LaunchPlan> launches;      // by instruction index
  std::map<int, UpdatePlan> updates;       // by instruction index
  std::map<int, CastPlan> casts;           // by instruction index
  std::vector<const UpdatePlan*> update_of_region;
  std::map<int, std::vector<int>> norm_regions;  // by grad_norm instruction: the regions it measures
  std::map<int, DeviceNorm> device_norms;        // by GPU grad_norm instruction
  std::map<int, std::vector<int>> collected;     // by cpu grad_norm: the GPU grad_norms whose sums it reads
  std::vector<char> measured;                    // per region: its share of the norm comes from a grad_norm
  int resident_buffer = -1;                      // %resident, the planes of regions kept on the GPU
  std::vector<std::string> wait_names;           // by instruction index: how a blocked wait is reported
  std::vector<int64_t> tied_offset;              // per tensor: elements into its binder's tied gradient, -1 if untied
  int64_t max_slot_elements = 0;                 // the largest slot any launch reads (scratch sizes)
  bool has_grad_norm = false;                    // any grad_norm (a schedule that clips has one for every region)

  /// "schedule instruction #N `text`", the prefix of every error about it.
  std::string where(int index) const;
  const ir::SchedInstr& instr(int index) const { return schedule.instrs[static_cast<size_t>(index)]; }
  const ir::Buffer& buffer(int b) const { return schedule.buffers[static_cast<size_t>(b)]; }
  /// The host address of a %store range: only the bf16 weight plane of one
  /// region is addressable; nullptr for anything else.
  char* store_weights(const ir::Range& r) const;

 private:
  void resolve_buffers();
  void resolve_instructions();
  LaunchPlan prepare_launch(int index) const;
  UpdatePlan prepare_update(int index) const;
  CastPlan prepare_cast(int index) const;
  /// Bytes of a host slab holding `elements` offloaded gradients (fp32 or bf16 pairs).
  int64_t slab_bytes(int64_t elements) const;
  DeviceNorm prepare_device_norm(int index) const;
  void prepare_tied();
  void prepare_norms();
};

/// Whether `op` moves bytes between src/dst operand pairs.
bool is_copy(ir::SchedOp op);

/// The src/dst pairs of a copy instruction, in operand order.
std::vector<std::pair<ir::Range, ir::Range>> copy_pairs(const ir::SchedInstr& in);

}  // namespace horizon::runtime
