// The buffers of one step's schedule (docs/schedule-ir.md, "Buffers"), added
// to the schedule from the planning passes' decisions, and the ranges
// lower_to_schedule names in them: a micro-batch's activations, the kept
// input of a block, a region's gradient or planes. The plain schedule keeps
// every block's input in %acts and every streamed region's gradient in
// %grads; insert_recompute replaces %acts with %x0, %x1, the checkpoints
// and the recompute segments, insert_offload %grads with two accumulators
// and the host slabs, and insert_buffer_swap adds the weight slots after
// %store.
#pragma once

#include <cstdint>
#include <vector>

#include "ir/schedule.h"
#include "passes/step_plan.h"

namespace horizon::passes {

/// Per region, its byte offset in %store (w_hi, w_lo, m, v of each region
/// in turn), and the store's size last.
std::vector<int64_t> store_offsets(const StepPlan& plan);

/// Per region, its gradient's byte offset in the plain schedule's %grads
/// (-1 for a resident region), and the size of %grads last.
std::vector<int64_t> kept_grad_offsets(const StepPlan& plan);

struct ScheduleBuffers {
  /// Adds every buffer the plan needs to `s`, in the documented order.
  ScheduleBuffers(const StepPlan& plan, ir::Schedule& s);

  // Buffer indices; -1 where the plan needs none.
  int store = -1, tokens = -1, targets = -1, loss = -1, acts = -1, arena = -1;
  int positions = -1, segments = -1;  // packed documents only
  int reference = -1, logps = -1;     // DPO only: per-row reference and policy log-probabilities
  int dx[2] = {-1, -1};
  int grads = -1, gacc_tied = -1;
  std::vector<int64_t> store_offset;  // per region, bytes into %store

  ir::Range whole(int buffer) const;
  /// Micro-batch `mb`'s share of a per-micro-batch buffer.
  ir::Range act(int buffer, int64_t mb) const;
  ir::Range batch(int buffer, int64_t mb) const;
  /// Micro-batch `mb`'s share of a buffer of one float per row.
  ir::Range rows(int buffer, int64_t mb) const;
  /// The input of block `l` (l = layers: the head's), micro-batch `mb`, in %acts.
  ir::Range kept(int64_t l, int64_t mb) const;
  /// A streamed region's fp32 gradient in %grads.
  ir::Range kept_grad(int region) const;

 private:
  const StepPlan& p_;
  const ir::Schedule& s_;
  std::vector<int64_t> kept_grad_offset_;  // per region, -1 when it is resident; the bytes of %grads last
};

/// The buffers of the regions `plan` keeps on the GPU (place_resident's),
/// appended to `s`: %resident (their planes, laid out as in the store),
/// %rgrad (their fp32 gradients), %norms (the per-tensor sums of squares
/// the GPU measures into host memory) and, with clipping, %clip_scale (the
/// factor the CPU hands back). None when no region is resident.
struct ResidentBuffers {
  ResidentBuffers(const StepPlan& plan, ir::Schedule& s);

  int resident = -1, rgrad = -1, norms = -1, clip_scale = -1;

  ir::Range whole(int buffer) const;
  /// A resident region's planes, its fp32 gradient and its per-tensor sums of squares.
  ir::Range planes(int region) const;
  ir::Range grad(int region) const;
  ir::Range norm_shares(int region) const;

 private:
  const StepPlan& p_;
  const ir::Schedule& s_;
  std::vector<int64_t> resident_offset_, rgrad_offset_, norms_offset_;  // per region, -1 when it streams
};

}  // namespace horizon::passes
