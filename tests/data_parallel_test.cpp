// The data-parallel step on emulated ranks (issue 16) against one rank
// running every micro-batch: N ranks x M/N micro-batches give the loss, the
// gradient norm and the master weights of 1 rank x M micro-batches — bit for
// bit with one micro-batch per rank, within a stated tolerance otherwise —
// every rank ends with the same weights, each rank's moment shard is the
// single rank's, and a collective that drops one rank's part is caught.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>

#include "passes/schedule_pipeline.h"
#include "runtime/parallel/data_parallel_step.h"
#include "runtime/parallel/emulated_group.h"
#include "runtime/schedule_executor.h"
#include "runtime/thread_pool.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

constexpr int64_t kBatch = 4, kSeq = 16, kMicroBatches = 4, kSteps = 3;
constexpr float kClip = 0.5f, kLr = 2e-3f;  // the first steps' norms exceed kClip: clipping changes the updates

runtime::TrainConfig train_config() {
  runtime::TrainConfig cfg;
  cfg.clip = kClip;
  cfg.adamw.weight_decay = 0.1f;
  return cfg;
}

ir::Schedule schedule_of(const ir::Module& m, int64_t batch, int64_t micro_batches) {
  passes::StreamingOptions o;
  o.batch = batch;
  o.seq = kSeq;
  o.micro_batches = micro_batches;
  o.checkpoint_every = 1;
  o.slots = 2;
  o.host_checkpoints = 0;
  o.clip = true;
  return passes::lower_to_schedule(m, o);
}

std::vector<runtime::TokenBatch> batches(const ir::Module& m) {
  return testing::random_batches(kSteps, kBatch, kSeq, 11, static_cast<int64_t>(m.config_number("vocab", 256)));
}

std::unique_ptr<runtime::HostStore> fresh_store(const ir::Module& m) {
  auto store = std::make_unique<runtime::HostStore>(m, codegen::cpu::MomentType::bf16);
  store->init_random(21);
  return store;
}

/// Losses, norms and every tensor's master (as float) and moment planes (as bytes).
struct Outcome {
  std::vector<double> losses, norms;
  std::vector<std::vector<float>> first_gradients;  // step 1's, per tensor (the mean loss's, not clipped)
  std::vector<std::vector<float>> masters;
  std::vector<std::vector<char>> m, v;
};

void keep_store(const runtime::HostStore& store, Outcome& o) {
  for (size_t t = 0; t < store.tensors().size(); ++t) {
    const int64_t n = store.tensors()[t].elements, bytes = n * store.moment_bytes();
    o.masters.emplace_back(static_cast<size_t>(n));
    store.get_master(static_cast<int>(t), o.masters.back().data());
    const auto* m = static_cast<const char*>(store.m(static_cast<int>(t)));
    const auto* v = static_cast<const char*>(store.v(static_cast<int>(t)));
    o.m.emplace_back(m, m + bytes);
    o.v.emplace_back(v, v + bytes);
  }
}

// 1 rank x M micro-batches: the single-process streamed step of today.
Outcome single_rank(const ir::Module& m) {
  auto store = fresh_store(m);
  const ir::Schedule s = schedule_of(m, kBatch, kMicroBatches);
  Outcome o;
  {
    runtime::ScheduleExecutor probe(s, m, *store, train_config().adamw, kClip);
    runtime::GradientCapture capture(store->tensors().size());
    probe.set_gradient_sink(&capture);
    probe.step(batches(m)[0].tokens.data(), batches(m)[0].targets.data());
    o.first_gradients = capture.gradients;
  }
  auto step = runtime::make_streamed_step(s, m, *store, train_config());
  for (const runtime::TokenBatch& b : batches(m)) {
    runtime::StepResult r = step->step(b, kLr);
    o.losses.push_back(r.loss);
    o.norms.push_back(r.grad_norm);
  }
  keep_store(*store, o);
  return o;
}

/// What a test may do to a rank's collectives (plant a bug); identity by default.
using Wrap = std::function<std::unique_ptr<runtime::Communicator>(runtime::Communicator&)>;

struct DataParallelOutcome {
  std::vector<Outcome> ranks;  // each rank's losses and norms as it reported them, and its store
  std::vector<runtime::GradientShards> shards;
  std::vector<std::vector<float>> first_gradients;  // step 1's, assembled from the ranks' shards
};

DataParallelOutcome data_parallel(const ir::Module& m, int ranks, const Wrap& wrap = nullptr) {
  runtime::EmulatedGroup group(ranks);
  const ir::Schedule s = schedule_of(m, kBatch / ranks, kMicroBatches / ranks);
  std::vector<std::unique_ptr<runtime::HostStore>> stores;
  std::vector<std::unique_ptr<runtime::Communicator>> wrapped;
  std::vector<std::unique_ptr<runtime::DataParallelRank>> rank;
  for (int r = 0; r < ranks; ++r) {
    stores.push_back(fresh_store(m));
    runtime::Communicator* c = &group.rank(r);
    if (wrap) c = wrapped.emplace_back(wrap(*c)).get();
    rank.push_back(std::make_unique<runtime::DataParallelRank>(s, m, *stores.back(), train_config(), *c));
  }
  DataParallelOutcome out;
  out.ranks.resize(static_cast<size_t>(ranks));
  for (const runtime::TokenBatch& b : batches(m)) {
    group.run([&](runtime::Communicator& c) {
      const runtime::StepResult r = rank[static_cast<size_t>(c.rank())]->step(b, kLr);
      out.ranks[static_cast<size_t>(c.rank())].losses.push_back(r.loss);
      out.ranks[static_cast<size_t>(c.rank())].norms.push_back(r.grad_norm);
    });
    if (!out.first_gradients.empty()) continue;
    for (int t = 0; t < rank[0]->shards().tensors(); ++t) {  // step 1's gradient, from every rank's shard
      out.first_gradients.emplace_back(static_cast<size_t>(stores[0]->tensors()[static_cast<size_t>(t)].elements));
      for (int r = 0; r < ranks; ++r) {
        const runtime::ShardRange sh = rank[static_cast<size_t>(r)]->shards().shard(t, r);
        std::copy_n(rank[static_cast<size_t>(r)]->gradient_shard(t), sh.elements(),
                    out.first_gradients.back().begin() + sh.begin);
      }
    }
  }
  for (int r = 0; r < ranks; ++r) {
    keep_store(*stores[static_cast<size_t>(r)], out.ranks[static_cast<size_t>(r)]);
    out.shards.push_back(rank[static_cast<size_t>(r)]->shards());
  }
  return out;
}

double relative(double a, double b) { return std::abs(a - b) / std::max(std::abs(b), 1e-30); }

// Collects what differs, up to a screenful.
class Differences {
 public:
  void add(const std::string& what) {
    if (text_.size() < 8000) text_ += what + "\n";
  }
  std::string text() const { return text_; }

 private:
  std::string text_;
};

/// Every rank's masters are rank 0's, bit for bit (the all-gather).
void expect_ranks_agree(const DataParallelOutcome& dp, Differences& d) {
  for (size_t r = 1; r < dp.ranks.size(); ++r)
    for (size_t t = 0; t < dp.ranks[0].masters.size(); ++t)
      if (std::memcmp(dp.ranks[r].masters[t].data(), dp.ranks[0].masters[t].data(), dp.ranks[0].masters[t].size() * 4))
        d.add("rank " + std::to_string(r) + ": tensor " + std::to_string(t) + "'s weights differ from rank 0's");
}

/// "" when the data-parallel run has the reference's bits: the step-1
/// gradient, every step's loss and norm, the masters on every rank, and each
/// rank's shard of the moments (bf16: 2 bytes per element).
std::string exact_differences(const DataParallelOutcome& dp, const Outcome& reference) {
  Differences d;
  expect_ranks_agree(dp, d);
  for (size_t t = 0; t < reference.first_gradients.size(); ++t)
    if (dp.first_gradients[t] != reference.first_gradients[t])
      d.add("tensor " + std::to_string(t) + "'s gradient differs");
  for (size_t r = 0; r < dp.ranks.size(); ++r) {
    const Outcome& o = dp.ranks[r];
    const std::string rank = "rank " + std::to_string(r) + ": ";
    if (o.losses != reference.losses) d.add(rank + "losses differ");
    if (o.norms != reference.norms) d.add(rank + "gradient norms differ");
    for (size_t t = 0; t < reference.masters.size(); ++t) {
      if (o.masters[t] != reference.masters[t]) d.add(rank + "tensor " + std::to_string(t) + "'s weights differ");
      const runtime::ShardRange bytes = dp.shards[r].byte_range(static_cast<int>(t), static_cast<int>(r), 2);
      for (const auto& [mine, theirs] : {std::pair{&o.m[t], &reference.m[t]}, std::pair{&o.v[t], &reference.v[t]}})
        if (!std::equal(mine->begin() + bytes.begin, mine->begin() + bytes.end, theirs->begin() + bytes.begin))
          d.add(rank + "tensor " + std::to_string(t) + "'s moment shard differs");
    }
  }
  return d.text();
}

// Where the reduction order differs (several micro-batches per rank), what
// must still agree, and how closely:
//  - step 1, before any update: the gradient, each element within 1e-6 of
//    its tensor's largest (a few float ulps of reassociation); the loss and
//    the norm within 1e-6 relative.
//  - after three steps: losses within 1e-5 relative and each tensor's
//    weights within 1e-3 of its norm (relative L2). Not 1e-6: AdamW's update
//    is lr * m / sqrt(v) per element, normalized, so an element whose
//    micro-batch gradients nearly cancel can take a different step (up to
//    2 lr) from an ulp of difference, and bf16 moments round an ulp-sized
//    difference up to 2^-8 of the update when it crosses a rounding step.
//    Measured for tiny.json, 2 ranks: 4.0e-4 (the embedding, with its rare
//    tokens' cancelling rows), 2.5e-5 or less elsewhere; losses 7e-7.
constexpr double kFirstStepTolerance = 1e-6, kLossTolerance = 1e-5, kWeightTolerance = 1e-3;

std::string close_differences(const DataParallelOutcome& dp, const Outcome& reference) {
  Differences d;
  expect_ranks_agree(dp, d);
  for (size_t t = 0; t < reference.first_gradients.size(); ++t) {
    const std::vector<float>& g = dp.first_gradients[t];
    const std::vector<float>& ref = reference.first_gradients[t];
    float largest = 0, worst = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
      largest = std::max(largest, std::abs(ref[i]));
      worst = std::max(worst, std::abs(g[i] - ref[i]));
    }
    if (worst > kFirstStepTolerance * largest)
      d.add("tensor " + std::to_string(t) + "'s gradient differs by " + std::to_string(worst / largest) +
            " of its largest");
  }
  const Outcome& o = dp.ranks[0];
  if (relative(o.norms[0], reference.norms[0]) > kFirstStepTolerance) d.add("the first gradient norm differs");
  for (size_t s = 0; s < reference.losses.size(); ++s)
    if (relative(o.losses[s], reference.losses[s]) > (s == 0 ? kFirstStepTolerance : kLossTolerance))
      d.add("the loss of step " + std::to_string(s + 1) + " differs");
  for (size_t t = 0; t < reference.masters.size(); ++t) {
    double diff = 0, norm = 0;
    for (size_t i = 0; i < reference.masters[t].size(); ++i) {
      const double w = reference.masters[t][i], e = o.masters[t][i] - w;
      diff += e * e;
      norm += w * w;
    }
    if (std::sqrt(diff) > kWeightTolerance * std::sqrt(norm))
      d.add("tensor " + std::to_string(t) + "'s weights differ by " + std::to_string(std::sqrt(diff / norm)) +
            " of their norm");
  }
  return d.text();
}

// Several ranks calling the pool at once (each rank's executor and the
// split optimizer do): every loop completes with every element done once.
// Without the pool's caller lock this hangs (the first data-parallel
// attempt's symptom), which ctest's timeout reports.
TEST(ThreadPoolConcurrency, LoopsFromSeveralThreadsEachCompleteWhole) {
  runtime::ThreadPool pool(3);
  std::vector<std::thread> callers;
  std::vector<int64_t> wrong(4, 0);
  for (int c = 0; c < 4; ++c)
    callers.emplace_back([&, c] {
      for (int round = 0; round < 50; ++round) {
        std::vector<int> hits(20000, 0);
        pool.parallel_for(20000, 100, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i)
            hits[static_cast<size_t>(i)] += 1 + static_cast<int>(std::sqrt(static_cast<double>(i)) < -1);
        });
        wrong[static_cast<size_t>(c)] += std::count_if(hits.begin(), hits.end(), [](int h) { return h != 1; });
      }
    });
  for (std::thread& t : callers) t.join();
  for (int64_t w : wrong) EXPECT_EQ(w, 0) << "an element of a loop ran twice or never";
}

TEST(DataParallel, OneRankIsTodaysStepBitForBit) {
  const ir::Module m = testing::lowered("tiny.json");
  EXPECT_EQ(exact_differences(data_parallel(m, 1), single_rank(m)), "");
}

TEST(DataParallel, OneMicroBatchPerRankIsBitForBit) {
  // Four ranks of one micro-batch each add the micro-batches' gradients in
  // the single rank's order, and their shards' norm blocks are its blocks.
  const ir::Module m = testing::lowered("tiny.json");
  const Outcome reference = single_rank(m);
  ASSERT_GT(reference.norms[0], kClip) << "clipping would not change the update";
  const DataParallelOutcome four = data_parallel(m, 4);
  EXPECT_EQ(exact_differences(four, reference), "");
  int sharded = 0;  // tensors split over several ranks: the test exercises the split
  for (int t = 0; t < four.shards[0].tensors(); ++t)
    sharded += four.shards[0].shard(t, 2).elements() > 0 && four.shards[0].shard(t, 3).elements() > 0;
  EXPECT_GE(sharded, 8);
}

TEST(DataParallel, TiedEmbeddingsAddTheirPartsAsOneRankDoes) {
  const ir::Module m = testing::lowered("tiny-qwen.json");
  EXPECT_EQ(exact_differences(data_parallel(m, 4), single_rank(m)), "");
}

TEST(DataParallel, TwoMicroBatchesPerRankAgreeWithinReassociation) {
  // Two ranks of two micro-batches: (g0 + g1) + (g2 + g3) instead of
  // ((g0 + g1) + g2) + g3. The tolerances and why: close_differences.
  const ir::Module m = testing::lowered("tiny.json");
  const DataParallelOutcome two = data_parallel(m, 2);
  const Outcome reference = single_rank(m);
  EXPECT_EQ(close_differences(two, reference), "");
  EXPECT_NE(exact_differences(two, reference), "")
      << "the order differs, so should some bits: is the test running 2 ranks?";
}

// Planted bugs: the checker must see them.
class DroppingCommunicator : public runtime::Communicator {
 public:
  DroppingCommunicator(runtime::Communicator& inner, bool drop_rank1_gradient, bool rank0_misses_gather)
      : inner_(inner), drop_gradient_(drop_rank1_gradient), miss_gather_(rank0_misses_gather) {}
  int rank() const override { return inner_.rank(); }
  int size() const override { return inner_.size(); }
  void reduce_scatter_sum(const float* in, float* out, const std::vector<int64_t>& shards) override {
    std::vector<float> zeros;
    if (drop_gradient_ && rank() == 1) in = (zeros = std::vector<float>(static_cast<size_t>(shards.back()))).data();
    inner_.reduce_scatter_sum(in, out, shards);
  }
  void all_reduce_sum(double* data, int64_t n) override { inner_.all_reduce_sum(data, n); }
  void all_gather(const float* in, float* out, const std::vector<int64_t>& shards) override {
    inner_.all_gather(in, out, shards);
  }
  void all_gather_bytes(const void* in, void* out, const std::vector<int64_t>& shards) override {
    if (!miss_gather_ || rank() != 0) return inner_.all_gather_bytes(in, out, shards);
    std::vector<char> elsewhere(static_cast<size_t>(shards.back()));  // rank 0 keeps its stale copy
    std::memcpy(elsewhere.data() + shards[0], in, static_cast<size_t>(shards[1] - shards[0]));
    inner_.all_gather_bytes(elsewhere.data() + shards[0], elsewhere.data(), shards);
  }
  void barrier() override { inner_.barrier(); }

 private:
  runtime::Communicator& inner_;
  bool drop_gradient_, miss_gather_;
};

TEST(DataParallel, ADroppedRankInTheReduceScatterIsCaught) {
  const ir::Module m = testing::lowered("tiny.json");
  const Outcome reference = single_rank(m);
  for (int ranks : {2, 4}) {
    const DataParallelOutcome dropped = data_parallel(
        m, ranks, [](runtime::Communicator& c) { return std::make_unique<DroppingCommunicator>(c, true, false); });
    const std::string exact = exact_differences(dropped, reference), close = close_differences(dropped, reference);
    EXPECT_NE(exact.find("gradient differs"), std::string::npos) << exact;
    EXPECT_NE(close.find("gradient differs"), std::string::npos) << close;
    EXPECT_NE(close.find("weights differ by"), std::string::npos) << close;
  }
}

TEST(DataParallel, ARankMissingTheAllGatherIsCaught) {
  const ir::Module m = testing::lowered("tiny.json");
  const DataParallelOutcome missed = data_parallel(
      m, 4, [](runtime::Communicator& c) { return std::make_unique<DroppingCommunicator>(c, false, true); });
  const Outcome reference = single_rank(m);
  for (const std::string& found : {exact_differences(missed, reference), close_differences(missed, reference)})
    EXPECT_NE(found.find("rank 1: tensor 0's weights differ from rank 0's"), std::string::npos) << found;
}

TEST(DataParallel, RefusesABatchThatDoesNotSplitAndResidentLayers) {
  const ir::Module m = testing::lowered("tiny.json");
  runtime::EmulatedGroup group(2);
  auto store = fresh_store(m);
  runtime::DataParallelRank rank(schedule_of(m, 2, 1), m, *store, train_config(), group.rank(0));
  runtime::TokenBatch odd = testing::random_batches(1, 3, kSeq, 1)[0];
  testing::expect_user_error([&] { rank.step(odd, kLr); }, {"2 ranks", "batch 4 x 16", "got 3 x 16"});

  passes::StreamingOptions o;
  o.batch = 2;
  o.seq = kSeq;
  o.resident = 1;
  o.host_checkpoints = 0;
  testing::expect_user_error(
      [&] { runtime::DataParallelRank(passes::lower_to_schedule(m, o), m, *store, train_config(), group.rank(0)); },
      {"resident", "--resident 0"});
}

}  // namespace
}  // namespace horizon
