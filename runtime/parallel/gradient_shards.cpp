#include "runtime/parallel/gradient_shards.h"

#include <stdexcept>
#include <string>

namespace horizon::runtime {

std::vector<int64_t> shard_offsets(int64_t elements, int ranks, int64_t alignment) {
  if (ranks <= 0 || alignment <= 0 || elements < 0)
    throw std::invalid_argument("shard_offsets: ranks and alignment must be positive, elements not negative");
  const int64_t units = (elements + alignment - 1) / alignment, base = units / ranks, extra = units % ranks;
  std::vector<int64_t> offsets{0};
  int64_t unit = 0;
  for (int r = 0; r < ranks; ++r) {
    // The extra units go to the last shards: the partial last unit then
    // shortens a shard that has one unit more than the first ones.
    unit += base + (r >= ranks - extra ? 1 : 0);
    offsets.push_back(std::min(elements, unit * alignment));
  }
  return offsets;
}

GradientShards::GradientShards(const std::vector<int64_t>& tensor_elements, int ranks, int64_t alignment)
    : ranks_(ranks), alignment_(alignment) {
  for (int64_t n : tensor_elements) offsets_.push_back(shard_offsets(n, ranks, alignment));
}

ShardRange GradientShards::shard(int tensor, int rank) const {
  const std::vector<int64_t>& o = offsets_.at(static_cast<size_t>(tensor));
  if (rank < 0 || rank >= ranks_)
    throw std::out_of_range("GradientShards: rank " + std::to_string(rank) + " of " + std::to_string(ranks_));
  return {o[static_cast<size_t>(rank)], o[static_cast<size_t>(rank) + 1]};
}

ShardRange GradientShards::byte_range(int tensor, int rank, int64_t bytes_per_element) const {
  const ShardRange s = shard(tensor, rank);
  return {s.begin * bytes_per_element, s.end * bytes_per_element};
}

std::vector<int64_t> GradientShards::offsets(int tensor, int64_t bytes_per_element) const {
  std::vector<int64_t> o = offsets_.at(static_cast<size_t>(tensor));
  for (int64_t& x : o) x *= bytes_per_element;
  return o;
}

int64_t GradientShards::rank_elements(int rank) const {
  int64_t n = 0;
  for (int t = 0; t < tensors(); ++t) n += shard(t, rank).elements();
  return n;
}

}  // namespace horizon::runtime
