// The buffers of one step's schedule (docs/schedule-ir.md, "Buffers"), added
// to the schedule from the planning passes' decisions, and the ranges
// lower_to_schedule names in them: a micro-batch's activations, a
// checkpoint, a recompute segment's slot, a region's gradient or planes.
#pragma once

#include <cstdint>
#include <vector>

#include "ir/schedule.h"
#include "passes/step_plan.h"

namespace horizon::passes {

struct ScheduleBuffers {
  /// Adds every buffer the plan needs to `s`, in the documented order.
  ScheduleBuffers(const StepPlan& plan, ir::Schedule& s);

  // Buffer indices; -1 where the plan needs none.
  int store = -1, tokens = -1, targets = -1, loss = -1, ckpt = -1, seg = -1, arena = -1;
  int positions = -1, segments = -1;  // packed documents only
  int reference = -1, logps = -1;     // DPO only: per-row reference and policy log-probabilities
  int x[2] = {-1, -1}, dx[2] = {-1, -1}, gacc[2] = {-1, -1};
  int gacc_tied = -1, tied_slab = -1;
  int resident = -1, rgrad = -1, norms = -1, clip_scale = -1;
  std::vector<int> slots;  // weight slots (none when every region is resident)
  std::vector<int> slabs;  // with clipping one per region (-1 for a resident one), else two in rotation
  std::vector<int64_t> store_offset;  // per region, bytes into %store

  ir::Range whole(int buffer) const;
  /// Micro-batch `mb`'s share of a per-micro-batch buffer.
  ir::Range act(int buffer, int64_t mb) const;
  ir::Range batch(int buffer, int64_t mb) const;
  /// Micro-batch `mb`'s share of a buffer of one float per row.
  ir::Range rows(int buffer, int64_t mb) const;
  /// Checkpoint `c` (the input of block c*K), micro-batch `mb`.
  ir::Range checkpoint(int64_t c, int64_t mb) const;
  /// Slot `j` of %seg, micro-batch `mb`.
  ir::Range segment(int64_t j, int64_t mb) const;
  /// The first elements * bytes_per_element bytes of `buffer` (a region's
  /// gradient in an accumulator or slab laid out by region offsets).
  ir::Range region_elements(int buffer, int region, int64_t bytes_per_element) const;
  /// A resident region's planes, its fp32 gradient and its per-tensor sums of squares.
  ir::Range resident_planes(int region) const;
  ir::Range resident_grad(int region) const;
  ir::Range norm_shares(int region) const;

 private:
  void add_resident(ir::Schedule& s);

  const StepPlan& p_;
  const ir::Schedule& s_;
  std::vector<int64_t> resident_offset_, rgrad_offset_, norms_offset_;  // per region, -1 when it streams
};

}  // namespace horizon::passes
