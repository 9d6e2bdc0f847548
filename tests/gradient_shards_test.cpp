// Which rank owns which part of which tensor (runtime/parallel/gradient_shards.h)
// and the optimizer split over those parts: shards cover every element once,
// in rank order, start on alignment boundaries and differ by at most one
// alignment unit; AdamW over the shards has the bits of AdamW over the tensor.
#include "runtime/parallel/gradient_shards.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <stdexcept>

#include "runtime/host_store.h"
#include "runtime/optimizer.h"
#include "support/moment_quantization.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

using runtime::shard_offsets;

TEST(ShardOffsets, HandComputedCases) {
  EXPECT_EQ(shard_offsets(1000, 4, 64),
            (std::vector<int64_t>{0, 256, 512, 768, 1000}));              // 16 units: 4 each, last partial
  EXPECT_EQ(shard_offsets(10, 2, 4), (std::vector<int64_t>{0, 4, 10}));   // 3 units: the extra one to the last shard
  EXPECT_EQ(shard_offsets(5, 3, 4), (std::vector<int64_t>{0, 0, 4, 5}));  // 2 units over 3 ranks: one empty shard
  EXPECT_EQ(shard_offsets(0, 2, 8), (std::vector<int64_t>{0, 0, 0}));
  EXPECT_EQ(shard_offsets(7, 1, 4), (std::vector<int64_t>{0, 7}));
  EXPECT_THROW(shard_offsets(7, 0, 4), std::invalid_argument);
  EXPECT_THROW(shard_offsets(7, 2, 0), std::invalid_argument);
}

// "" when `o` splits `elements` into ranks contiguous shards in order,
// each starting on an alignment boundary, sizes within one unit of each other.
std::string split_problems(const std::vector<int64_t>& o, int64_t elements, int64_t alignment) {
  if (o.size() < 2 || o.front() != 0 || o.back() != elements || !std::is_sorted(o.begin(), o.end()))
    return "not a split of all elements in order";
  int64_t smallest = elements, largest = 0;
  for (size_t r = 0; r + 1 < o.size(); ++r) {
    if (o[r] < elements && o[r] % alignment != 0) return "shard " + std::to_string(r) + " starts off a boundary";
    smallest = std::min(smallest, o[r + 1] - o[r]);
    largest = std::max(largest, o[r + 1] - o[r]);
  }
  if (largest - smallest > alignment) return "shards differ by more than one alignment unit";
  return "";
}

TEST(ShardOffsets, CoverAlignAndBalanceEverywhere) {
  for (int64_t elements : {int64_t{1}, int64_t{63}, int64_t{64}, int64_t{65}, int64_t{1000}, int64_t{4097},
                           int64_t{176128}, int64_t{1} << 20})
    for (int ranks : {1, 2, 3, 4, 7, 8})
      for (int64_t alignment : {int64_t{1}, int64_t{16}, int64_t{256}, int64_t{1} << 15}) {
        const std::vector<int64_t> o = shard_offsets(elements, ranks, alignment);
        EXPECT_EQ(o.size(), static_cast<size_t>(ranks) + 1);
        EXPECT_EQ(split_problems(o, elements, alignment), "")
            << elements << " elements, " << ranks << " ranks, alignment " << alignment;
      }
}

TEST(ShardOffsets, TheCheckerCatchesBadSplits) {
  // The extra units given to the first shards: the partial last unit leaves
  // the last shard 6 short of the first (10 elements, alignment 4).
  EXPECT_EQ(split_problems({0, 8, 10}, 10, 4), "shards differ by more than one alignment unit");
  EXPECT_EQ(split_problems({0, 5, 10}, 10, 4), "shard 1 starts off a boundary");
  EXPECT_EQ(split_problems({0, 4, 9}, 10, 4), "not a split of all elements in order");
}

TEST(GradientShards, ByteRangesOfEveryPlane) {
  const runtime::GradientShards s({1000, 10, 256}, 4, 64);
  EXPECT_EQ(s.tensors(), 3);
  EXPECT_EQ(s.shard(0, 1), (runtime::ShardRange{256, 512}));
  EXPECT_EQ(s.byte_range(0, 1, 4), (runtime::ShardRange{1024, 2048}));  // fp32 gradient
  EXPECT_EQ(s.byte_range(0, 3, 2), (runtime::ShardRange{1536, 2000}));  // bf16 weight halves
  EXPECT_EQ(s.shard(1, 3), (runtime::ShardRange{0, 10}));               // one partial unit: the last rank's
  EXPECT_EQ(s.shard(1, 0).elements(), 0);
  EXPECT_EQ(s.offsets(2, 2), (std::vector<int64_t>{0, 128, 256, 384, 512}));
  int64_t all = 0;
  for (int r = 0; r < 4; ++r) all += s.rank_elements(r);
  EXPECT_EQ(all, 1000 + 10 + 256);
  EXPECT_EQ(s.rank_elements(3), 232 + 10 + 64);
  EXPECT_THROW(s.shard(0, 4), std::out_of_range);
}

// AdamW over each rank's shard, shard after shard, against AdamW over the
// whole tensor: the same bits in weights and moments, for every moment type.
TEST(OptimizerSplit, ShardUpdatesEqualTheWholeTensorsUpdate) {
  const ir::Module m = testing::lowered("tiny.json");
  for (codegen::cpu::MomentType moments :
       {codegen::cpu::MomentType::bf16, codegen::cpu::MomentType::f32, codegen::cpu::MomentType::q8}) {
    SCOPED_TRACE(codegen::cpu::moment_type_name(moments));
    runtime::HostStore whole(m, moments), split(m, moments);
    whole.init_random(3);
    split.init_random(3);
    runtime::AdamWConfig config;
    config.weight_decay = 0.1f;
    runtime::AdamWOptimizer a(whole, config), b(split, config);
    std::vector<int64_t> sizes;
    for (const runtime::StoredTensor& t : whole.tensors()) sizes.push_back(t.elements);
    const runtime::GradientShards shards(sizes, 3, kMomentBlock);  // q8 moments need whole blocks
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.0f, 1e-3f);
    for (int step = 0; step < 2; ++step) {
      a.begin_step();
      b.begin_step();
      for (int t = 0; t < shards.tensors(); ++t) {
        std::vector<float> g(static_cast<size_t>(sizes[static_cast<size_t>(t)]));
        for (float& x : g) x = normal(rng);
        a.update(t, g.data(), 1e-3f, 0.5f);
        for (int r = 0; r < shards.ranks(); ++r) {
          const runtime::ShardRange s = shards.shard(t, r);
          if (s.elements()) b.update_range(t, s.begin, s.end, g.data() + s.begin, 1e-3f, 0.5f);
        }
      }
    }
    for (int t = 0; t < shards.tensors(); ++t) {
      const size_t n = static_cast<size_t>(sizes[static_cast<size_t>(t)]);
      EXPECT_EQ(std::memcmp(whole.w_hi(t), split.w_hi(t), n * 2), 0) << "tensor " << t;
      EXPECT_EQ(std::memcmp(whole.w_lo(t), split.w_lo(t), n * 2), 0) << "tensor " << t;
      EXPECT_EQ(std::memcmp(whole.m(t), split.m(t), n * static_cast<size_t>(whole.moment_bytes())), 0)
          << "tensor " << t;
      EXPECT_EQ(std::memcmp(whole.v(t), split.v(t), n * static_cast<size_t>(whole.moment_bytes())), 0)
          << "tensor " << t;
      if (moments == codegen::cpu::MomentType::q8) {
        EXPECT_EQ(std::memcmp(whole.m_scale(t), split.m_scale(t), moment_blocks(static_cast<int64_t>(n)) * 4), 0);
      }
    }
  }
}

TEST(OptimizerSplit, AShardThatSplitsAQuantizationBlockIsRefused) {
  const ir::Module m = testing::lowered("tiny.json");
  runtime::HostStore store(m, codegen::cpu::MomentType::q8);
  runtime::AdamWOptimizer adamw(store, runtime::AdamWConfig{});
  std::vector<float> g(1000, 0.0f);
  adamw.begin_step();
  EXPECT_THROW(adamw.update_range(0, 100, 600, g.data(), 1e-3f, 1.0f), std::invalid_argument);
  EXPECT_THROW(adamw.update_range(0, 0, store.tensors()[0].elements + 1, g.data(), 1e-3f, 1.0f), std::invalid_argument);
  EXPECT_NO_THROW(adamw.update_range(0, 256, 600, g.data(), 1e-3f, 1.0f));
}

}  // namespace
}  // namespace horizon
