// Which rank of a data-parallel group owns which part of every stored
// tensor: each tensor's elements split into `ranks` contiguous shards, in
// rank order, whose boundaries are multiples of one alignment unit counted
// from the tensor's first element. A rank receives its shard of the
// tensor's gradient from the reduce-scatter, measures its share of the norm,
// updates that shard's weights and moments, and sends the updated weights
// to the others in the all-gather. Whole tensors per rank (the first
// attempt) leave a rank idle when a layer has fewer tensors than there are
// ranks; a slice of every tensor keeps every rank busy on every layer, as
// NCCL's reduce-scatter of one layer's gradient does.
#pragma once

#include <cstdint>
#include <vector>

namespace horizon::runtime {

/// Elements [begin, end) of one tensor.
struct ShardRange {
  int64_t begin = 0, end = 0;
  int64_t elements() const { return end - begin; }
  bool operator==(const ShardRange&) const = default;
};

/// ranks + 1 ascending offsets splitting `elements` into shards made of
/// whole alignment units (the last unit may be partial): each shard has
/// floor(units / ranks) units, the last units % ranks shards one more, so
/// sizes differ by at most one unit and the partial unit, if any, lands on
/// a shard that has a full extra one or on the last shard.
std::vector<int64_t> shard_offsets(int64_t elements, int ranks, int64_t alignment);

/// The shards of every tensor of a store (tensor sizes in store order).
class GradientShards {
 public:
  GradientShards(const std::vector<int64_t>& tensor_elements, int ranks, int64_t alignment);

  int ranks() const { return ranks_; }
  int64_t alignment() const { return alignment_; }
  int tensors() const { return static_cast<int>(offsets_.size()); }
  /// Rank `rank`'s elements of tensor `tensor`.
  ShardRange shard(int tensor, int rank) const;
  /// The same in bytes of a plane with `bytes_per_element` (4: fp32
  /// gradient, 2: bf16 weight halves): what a collective moves.
  ShardRange byte_range(int tensor, int rank, int64_t bytes_per_element) const;
  /// The offsets a collective over the whole tensor takes (ranks + 1), in
  /// elements, or in bytes of a plane with `bytes_per_element`.
  std::vector<int64_t> offsets(int tensor, int64_t bytes_per_element = 1) const;
  /// Elements rank `rank` owns over all tensors (its optimizer's work).
  int64_t rank_elements(int rank) const;

 private:
  int ranks_;
  int64_t alignment_;
  std::vector<std::vector<int64_t>> offsets_;  // per tensor, ranks + 1 element offsets
};

}  // namespace horizon::runtime
