// Collectives on emulated ranks (issue: several GPUs through NCCL): sums in
// rank order, shards of whole tensors, and a rank that throws releases the others.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <stdexcept>

#include "runtime/parallel/emulated_group.h"
#include "support/error.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

TEST(ShardItems, ContiguousBalancedAndCoveringAll) {
  EXPECT_EQ(runtime::shard_items({10, 10, 10, 10}, 2), (std::vector<int64_t>{0, 2, 4}));
  EXPECT_EQ(runtime::shard_items({100, 1, 1, 1, 1}, 2), (std::vector<int64_t>{0, 1, 5}));
  EXPECT_EQ(runtime::shard_items({5}, 3), (std::vector<int64_t>{0, 0, 1, 1}));  // more ranks than items: empty shards
  EXPECT_EQ(runtime::shard_items({}, 2), (std::vector<int64_t>{0, 0, 0}));
}

TEST(EmulatedGroup, ReduceScatterSumsInRankOrder) {
  // 1e8 + 1 - 1e8 is 0 in float when added in rank order (1 is lost), 1 in any order that adds 1 last.
  runtime::EmulatedGroup group(3);
  const std::vector<int64_t> shards{0, 2, 3, 4};
  std::vector<std::vector<float>> out(3);
  group.run([&](runtime::Communicator& c) {
    const float v[] = {1e8f, 1.0f, -1e8f};
    std::vector<float> in(4, v[c.rank()]);
    in[3] = static_cast<float>(c.rank() + 1);
    out[static_cast<size_t>(c.rank())].resize(static_cast<size_t>(shards[c.rank() + 1] - shards[c.rank()]));
    c.reduce_scatter_sum(in.data(), out[static_cast<size_t>(c.rank())].data(), shards);
  });
  EXPECT_EQ(out[0], (std::vector<float>{0.0f, 0.0f}));
  EXPECT_EQ(out[1], (std::vector<float>{0.0f}));
  EXPECT_EQ(out[2], (std::vector<float>{6.0f}));
}

TEST(EmulatedGroup, AllReduceAndAllGatherGiveEveryRankTheSame) {
  runtime::EmulatedGroup group(4);
  std::vector<std::vector<double>> sums(4);
  std::vector<std::vector<float>> gathered(4, std::vector<float>(7));
  const std::vector<int64_t> shards{0, 1, 3, 3, 7};
  group.run([&](runtime::Communicator& c) {
    const int r = c.rank();
    std::vector<double> d{static_cast<double>(r), 1.0};
    c.all_reduce_sum(d.data(), 2);
    sums[static_cast<size_t>(r)] = d;
    std::vector<float> mine(static_cast<size_t>(shards[r + 1] - shards[r]), static_cast<float>(10 * r));
    c.all_gather(mine.data(), gathered[static_cast<size_t>(r)].data(), shards);
  });
  for (int r = 0; r < 4; ++r) {
    EXPECT_EQ(sums[static_cast<size_t>(r)], (std::vector<double>{6.0, 4.0}));
    EXPECT_EQ(gathered[static_cast<size_t>(r)], (std::vector<float>{0, 10, 10, 30, 30, 30, 30}));
  }
}

TEST(EmulatedGroup, ARankThatThrowsReleasesTheOthers) {
  runtime::EmulatedGroup group(3);
  std::atomic<int> finished{0};
  EXPECT_THROW(group.run([&](runtime::Communicator& c) {
    if (c.rank() == 1) throw std::runtime_error("rank 1 failed");
    double x = 1;
    c.all_reduce_sum(&x, 1);
    c.barrier();
    ++finished;
  }),
               std::runtime_error);
  EXPECT_EQ(finished.load(), 2) << "the other ranks must not wait forever for the one that threw";
  EXPECT_THROW(group.run([](runtime::Communicator&) {}), std::logic_error);
}

}  // namespace
}  // namespace horizon
