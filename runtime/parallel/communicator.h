// Collectives between the ranks of a data-parallel run (one rank per GPU):
// the interface the training step calls, so the same step runs on NCCL
// across processes and, in the CPU test suite, on EmulatedGroup's ranks (threads
// of one process). Every sum adds the ranks' values in rank order, so a
// reduction has the bits of a sequential accumulation in that order.
#pragma once

#include <cstdint>
#include <vector>

namespace horizon::runtime {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;

  /// Element i of every rank's `in` [shards.back()] summed in rank order; this
  /// rank receives elements [shards[rank], shards[rank + 1]) in `out`.
  /// `shards` (size() + 1 ascending offsets) is the same on every rank.
  virtual void reduce_scatter_sum(const float* in, float* out, const std::vector<int64_t>& shards) = 0;
  /// Every rank's `data` [n] summed in rank order, on every rank.
  virtual void all_reduce_sum(double* data, int64_t n) = 0;
  /// Rank r's `in` [shards[r + 1] - shards[r]] lands at out[shards[r]...] on every rank.
  virtual void all_gather(const float* in, float* out, const std::vector<int64_t>& shards) = 0;
  /// The same for raw bytes (`shards` in bytes): planes that are not floats,
  /// such as the bf16 halves of the master weights, copied bit for bit. `in`
  /// may be this rank's part of `out` (in place, as NCCL allows).
  virtual void all_gather_bytes(const void* in, void* out, const std::vector<int64_t>& shards) = 0;
  /// Returns when every rank has called it.
  virtual void barrier() = 0;
};

/// Offsets splitting `sizes` (in order) into `ranks` contiguous shards of
/// whole items, each as close to an equal share of the total as the items
/// allow: shard r is items [result[r], result[r + 1]).
std::vector<int64_t> shard_items(const std::vector<int64_t>& sizes, int ranks);

}  // namespace horizon::runtime
