// One rank of a data-parallel training step. Every rank runs the same
// compiled step (a ScheduleExecutor on the schedule of its share: the global
// batch's rows and micro-batches divided by the ranks) against its own copy
// of the model, with a gradient sink in place of the update. Then, tensor by
// tensor: the gradient is reduce-scattered so each rank owns a contiguous
// shard of it (gradient_shards.h), the norm's block sums and the loss are
// all-reduced (exact global-norm clipping), each rank's AdamW updates only
// its shard's weights and moments, and the updated weights are all-gathered
// so every rank's copy is the same again. The optimizer state stays sharded.
//
// Bits: sums over ranks add in rank order, so with one micro-batch per rank
// a step has the bits of one rank running all of them in order (the norm's
// blocks are the single rank's, since shards start on its block
// boundaries). With several per rank, each rank's micro-batches add first:
// the gradient differs from one rank's by float reassociation only.
//
// On GPUs the same step is a process per GPU with NCCL's reduce-scatter per
// layer as its gradient lands and each rank offloading only its shard; see
// docs/multi-gpu.md. Here it runs in the CPU test suite on EmulatedGroup.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "ir/module.h"
#include "ir/schedule.h"
#include "runtime/host_store.h"
#include "runtime/parallel/communicator.h"
#include "runtime/parallel/gradient_shards.h"
#include "runtime/schedule_executor.h"
#include "runtime/trainer.h"

namespace horizon::runtime {

class DataParallelRank {
 public:
  /// `schedule`: this rank's share of the step; `store`: this rank's copy
  /// of the model, equal on every rank (same initialization or checkpoint);
  /// `comm`: the group, valid while this object lives. UserError for a
  /// schedule the split does not support yet: resident layers (ZeRO-3
  /// gathering is not emulated) or updates before the global norm
  /// (--early-updates).
  DataParallelRank(const ir::Schedule& schedule, const ir::Module& lowered, HostStore& store, const TrainConfig& config,
                   Communicator& comm);
  ~DataParallelRank();

  /// This rank's part of one step over `batch`, the whole step's rows (every
  /// rank passes the same batch and lr): it runs rows
  /// [rank * b, (rank + 1) * b) for its schedule's batch b. Returns the
  /// step's loss (over all ranks' targets) and global gradient norm, the
  /// same on every rank.
  StepResult step(const TokenBatch& batch, float lr);

  const GradientShards& shards() const { return shards_; }
  /// This rank's shard of `tensor`'s gradient in the last step, summed over
  /// the ranks and not clipped (shards().shard(tensor, rank) elements).
  const float* gradient_shard(int tensor) const {
    return shard_gradient_.data() + shard_offset_[static_cast<size_t>(tensor)];
  }

 private:
  class Capture;

  HostStore& store_;
  TrainConfig config_;
  Communicator& comm_;
  ScheduleExecutor executor_;
  std::unique_ptr<Capture> capture_;
  AdamWOptimizer optimizer_;
  GradientShards shards_;
  std::vector<int64_t> shard_offset_;  // tensor t's shard in shard_gradient_
  std::vector<int64_t> first_block_;  // tensor t's first sum-of-squares block in the all-reduced vector; then the total
  std::vector<float> shard_gradient_, tied_shard_;
  int64_t activation_bytes_ = 0;
};

}  // namespace horizon::runtime
