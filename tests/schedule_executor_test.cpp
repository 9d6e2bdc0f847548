// The streamed step on the emulated device against the unstreamed reference:
// for every checkpoint interval, micro-batch count, slot count, checkpoint
// placement and clipping mode, two steps give the same losses and the same
// master weights bit for bit; the arena and host memory the executor touches
// are what the schedule planned; bad schedules fail loudly, never hang.
#include "runtime/schedule_executor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "frontend/model_json.h"
#include "passes/lower.h"
#include "passes/schedule_pipeline.h"
#include "runtime/trainer.h"
#include "support/error.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

constexpr int64_t kBatch = 4, kSeq = 16, kSteps = 2;
constexpr float kClip = 0.5f;  // small enough that clipping changes the update

using testing::lowered;

std::vector<runtime::TokenBatch> batches(int64_t vocab) {
  return testing::random_batches(kSteps, kBatch, kSeq, 11, vocab);
}

runtime::TrainConfig train_config(int64_t micro_batches, bool clip) {
  runtime::TrainConfig cfg;
  cfg.micro_batches = micro_batches;
  cfg.clip = clip ? kClip : 0.0f;
  cfg.adamw.weight_decay = 0.1f;
  return cfg;
}

/// What two steps leave behind: losses and every tensor's fp32 master, as bits.
struct Outcome {
  std::vector<double> losses, norms;
  std::vector<std::vector<uint32_t>> masters;
};

Outcome outcome_of(const runtime::HostStore& store, std::vector<double> losses, std::vector<double> norms) {
  Outcome o{std::move(losses), std::move(norms), {}};
  for (size_t t = 0; t < store.tensors().size(); ++t) {
    std::vector<float> w(static_cast<size_t>(store.tensors()[t].elements));
    store.get_master(static_cast<int>(t), w.data());
    std::vector<uint32_t> bits(w.size());
    std::memcpy(bits.data(), w.data(), w.size() * 4);
    o.masters.push_back(std::move(bits));
  }
  return o;
}

Outcome unstreamed(const ir::Module& m, int64_t micro_batches, bool clip) {
  runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
  store.init_random(21);
  auto backend = runtime::make_unstreamed_step(m, store, train_config(micro_batches, clip));
  std::vector<double> losses, norms;
  for (const runtime::TokenBatch& b : batches(256)) {
    runtime::StepResult r = backend->step(b, 2e-3f);
    losses.push_back(r.loss);
    norms.push_back(r.grad_norm);
  }
  return outcome_of(store, losses, norms);
}

struct Streamed {
  Outcome outcome;
  int64_t arena_high_water = 0, host_bytes = 0;
  int64_t h2d = 0, d2h = 0;
};

Streamed streamed(const ir::Module& m, const ir::Schedule& schedule, bool clip) {
  runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
  store.init_random(21);
  runtime::ScheduleExecutor exec(schedule, m, store, train_config(1, clip).adamw, clip ? kClip : 0.0f);
  exec.set_learning_rate(2e-3f);
  Streamed out;
  std::vector<double> losses, norms;
  for (const runtime::TokenBatch& b : batches(256)) {
    exec.step(b.tokens.data(), b.targets.data());
    losses.push_back(exec.last_step().loss);
    norms.push_back(exec.last_step().grad_norm);
    out.arena_high_water = std::max(out.arena_high_water, exec.last_step().arena_high_water);
    out.h2d = exec.last_step().h2d_bytes;
    out.d2h = exec.last_step().d2h_bytes;
  }
  out.host_bytes = exec.host_bytes();
  out.outcome = outcome_of(store, losses, norms);
  return out;
}

passes::StreamingOptions options(int64_t K, int64_t M, int64_t slots, bool host_checkpoints, bool clip,
                                 int64_t kept = 0) {
  passes::StreamingOptions o;
  o.keep_activations = kept;
  o.batch = kBatch;
  o.seq = kSeq;
  o.micro_batches = M;
  o.checkpoint_every = K;
  o.slots = slots;
  o.host_checkpoints = host_checkpoints ? 1 : 0;
  o.clip = clip;
  return o;
}

int64_t planned_arena(const ir::Schedule& s) {
  int64_t bytes = 0;
  for (const ir::ArenaPlan& a : s.arena_plans) bytes = std::max(bytes, a.bytes);
  return bytes;
}

// Every configuration of one model against the reference with the same M and clipping.
void expect_streamed_equals_unstreamed(const std::string& model) {
  ir::Module m = lowered(model);
  const int64_t L = m.find_stage("block")->instances;
  std::vector<int64_t> intervals = {1};
  for (int64_t k : {int64_t{2}, L})
    if (k <= L && std::find(intervals.begin(), intervals.end(), k) == intervals.end()) intervals.push_back(k);
  for (int64_t M : {1, 4})
    for (bool clip : {true, false}) {
      const Outcome reference = unstreamed(m, M, clip);
      EXPECT_GT(reference.norms[0], kClip) << "clipping would not change the update";
      // Blocks that keep their activations (K = 1 only) run other stages
      // whose values are the recompute's: the same bits again. Some blocks
      // kept and some not, on both checkpoint placements.
      struct Config {
        int64_t K, slots;
        bool host;
        int64_t kept;
      };
      std::vector<Config> configs;
      for (int64_t K : intervals)
        for (int64_t slots : {2, 3})
          for (bool host : {false, true}) configs.push_back({K, slots, host, 0});
      for (bool host : {false, true}) configs.push_back({1, 2, host, std::max<int64_t>(1, L - 1)});
      for (const auto& [K, slots, host, kept] : configs) {
        SCOPED_TRACE(model + " K=" + std::to_string(K) + " M=" + std::to_string(M) + " slots=" + std::to_string(slots) +
                     " host_checkpoints=" + std::to_string(host) + " clip=" + std::to_string(clip) +
                     " kept=" + std::to_string(kept));
        const ir::Schedule schedule = passes::lower_to_schedule(m, options(K, M, slots, host, clip, kept));
        if (kept > 0) {
          EXPECT_NE(ir::print_schedule(schedule).find("block.kept.bwd"), std::string::npos);
        }
        const Streamed s = streamed(m, schedule, clip);
        EXPECT_EQ(s.outcome.losses, reference.losses);
        EXPECT_EQ(s.outcome.norms, reference.norms);
        ASSERT_EQ(s.outcome.masters.size(), reference.masters.size());
        for (size_t t = 0; t < reference.masters.size(); ++t)
          EXPECT_TRUE(s.outcome.masters[t] == reference.masters[t]) << "tensor " << t << " differs";
        EXPECT_EQ(s.arena_high_water, planned_arena(schedule));
        const double planned_host = static_cast<double>(schedule.bytes(ir::Place::host));
        EXPECT_NEAR(static_cast<double>(s.host_bytes), planned_host, 0.01 * planned_host);
        EXPECT_GT(s.h2d, 0);
        EXPECT_GT(s.d2h, 0);
      }
    }
}

TEST(ScheduleExecutor, TinyMatchesUnstreamedBitForBit) { expect_streamed_equals_unstreamed("tiny.json"); }
TEST(ScheduleExecutor, TiedQwenMatchesUnstreamedBitForBit) { expect_streamed_equals_unstreamed("tiny-qwen.json"); }
TEST(ScheduleExecutor, TiedGpt2MatchesUnstreamedBitForBit) { expect_streamed_equals_unstreamed("tiny-gpt2.json"); }

TEST(ScheduleExecutor, TrainerWithStreamedBackendMatchesReference) {
  ir::Module m = lowered("tiny-qwen.json");
  runtime::TrainConfig cfg = train_config(2, true);
  cfg.steps = 3;
  cfg.lr.peak = 2e-3;
  cfg.lr.total = 3;
  auto run = [&](bool stream) {
    runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
    store.init_random(5);
    std::unique_ptr<runtime::Trainer> trainer;
    if (stream) {
      const ir::Schedule s = passes::lower_to_schedule(m, options(1, 2, 2, false, true));
      trainer = std::make_unique<runtime::Trainer>(m, store, cfg, runtime::make_streamed_step(s, m, store, cfg));
    } else {
      trainer = std::make_unique<runtime::Trainer>(m, store, cfg);
    }
    std::vector<runtime::TokenBatch> data = batches(256);
    size_t next = 0;
    std::vector<double> losses, norms;
    trainer->run([&] { return data[next++ % data.size()]; }, nullptr,
                 [&](const runtime::StepMetrics& s) {
                   losses.push_back(s.loss);
                   norms.push_back(s.grad_norm);
                 });
    EXPECT_EQ(store.step(), 3);
    return std::make_pair(losses, norms);
  };
  EXPECT_EQ(run(true), run(false));
}

TEST(ScheduleExecutor, TrainCommandStreamedPrintsTheSameLosses) {
  testing::TempDir dir;
  std::string text;
  for (int i = 0; i < 300; ++i) text += "streams, slots and events " + std::to_string(i % 7) + "\n";
  const std::string data = dir.write("corpus.txt", text);
  const std::string common = testing::source_path("models/tiny-qwen.json") + " --data " + data +
                             " --steps 3 --batch 4 --seq 32 --micro-batches 2 --seed 2";
  testing::CommandResult plain = testing::run_horizon("train " + common + " --device cpu");
  testing::CommandResult streamed =
      testing::run_horizon("train " + common + " --stream --checkpoint-every 2 --slots 3");
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  ASSERT_EQ(streamed.exit_code, 0) << streamed.err;
  // Blocks that keep their activations (the emulated device keeps none unless asked).
  testing::CommandResult kept = testing::run_horizon("train " + common + " --stream --keep-activations 1");
  ASSERT_EQ(kept.exit_code, 0) << kept.err;
  auto summary = [](const std::string& out) { return out.substr(out.rfind("loss ")); };
  EXPECT_EQ(summary(streamed.out), summary(plain.out));
  EXPECT_EQ(summary(kept.out), summary(plain.out));
  EXPECT_NE(streamed.out.find("streamed schedule"), std::string::npos) << streamed.out;
  EXPECT_NE(streamed.out.find("| 0 of 2 blocks keep activations |"), std::string::npos) << streamed.out;
  EXPECT_NE(kept.out.find("| 1 of 2 blocks keep activations |"), std::string::npos) << kept.out;
}

TEST(ScheduleExecutor, MicroBatchesAverageTheBatch) {
  // M micro-batches compute the same mean gradient as one batch, up to rounding.
  ir::Module m = lowered("tiny.json");
  Outcome one = unstreamed(m, 1, true), four = unstreamed(m, 4, true);
  ASSERT_EQ(one.losses.size(), four.losses.size());
  for (size_t i = 0; i < one.losses.size(); ++i) EXPECT_NEAR(one.losses[i], four.losses[i], 2e-2);
}

TEST(ScheduleExecutor, OperandOutsideItsBufferNamesTheInstruction) {
  ir::Module m = lowered("tiny.json");
  ir::Schedule s = passes::lower_to_schedule(m, options(1, 1, 2, false, true));
  int victim = -1;
  for (size_t i = 0; i < s.instrs.size() && victim < 0; ++i)
    if (s.instrs[i].op == ir::SchedOp::launch && s.instrs[i].stage == "block") victim = static_cast<int>(i);
  ASSERT_GE(victim, 0);
  for (ir::Operand& op : s.instrs[static_cast<size_t>(victim)].operands)
    if (op.role == "y") op.range.offset += 4;
  runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
  try {
    runtime::ScheduleExecutor exec(s, m, store, runtime::AdamWConfig{});
    FAIL() << "a launch writing past its buffer was accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("#" + std::to_string(victim)), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("outside"), std::string::npos) << e.what();
  }
}

// The clip factor needs every region's share of the norm exactly once,
// before any update: a schedule measuring one twice, or updating early, is
// refused naming what is wrong.
TEST(ScheduleExecutor, NormSharesMustCoverEveryRegionOnceBeforeTheUpdates) {
  ir::Module m = lowered("tiny.json");
  const ir::Schedule base = passes::lower_to_schedule(m, options(1, 1, 2, false, true));
  auto refusal = [&](const ir::Schedule& s) {
    runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
    try {
      runtime::ScheduleExecutor exec(s, m, store, runtime::AdamWConfig{});
    } catch (const UserError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  ir::Schedule twice = base;
  for (ir::SchedInstr& in : twice.instrs)
    if (in.op == ir::SchedOp::grad_norm && in.stage == "block" && in.instance == 1)
      for (const ir::SchedInstr& other : base.instrs)
        if (other.op == ir::SchedOp::grad_norm && other.stage == "block" && other.instance == 0)
          in.operands.push_back(other.operands[0]);
  EXPECT_NE(refusal(twice).find("block[0] is measured by 2 grad_norm"), std::string::npos) << refusal(twice);

  ir::Schedule early = base;
  auto first_update = std::find_if(early.instrs.begin(), early.instrs.end(),
                                   [](const ir::SchedInstr& in) { return in.op == ir::SchedOp::optimizer_step; });
  auto last_norm = std::find_if(early.instrs.rbegin(), early.instrs.rend(),
                                [](const ir::SchedInstr& in) { return in.op == ir::SchedOp::grad_norm; });
  std::iter_swap(first_update, last_norm);  // both on the cpu stream
  EXPECT_NE(refusal(early).find("every update follows the last grad_norm"), std::string::npos) << refusal(early);
}

TEST(ScheduleExecutor, WaitForAnEventNeverRecordedIsADeadlockNotAHang) {
  ir::Module m = lowered("tiny.json");
  ir::Schedule s = passes::lower_to_schedule(m, options(1, 1, 2, false, true));
  ir::SchedInstr wait;
  wait.op = ir::SchedOp::wait;
  wait.stream = ir::Stream::compute;
  wait.event = s.events++;
  s.instrs.insert(s.instrs.begin(), wait);
  runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
  store.init_random(1);
  runtime::ScheduleExecutor exec(s, m, store, runtime::AdamWConfig{});
  std::vector<runtime::TokenBatch> data = batches(256);
  try {
    exec.step(data[0].tokens.data(), data[0].targets.data());
    FAIL() << "the step finished although compute waits for an event nobody records";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("deadlock"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("wait ^e" + std::to_string(wait.event)), std::string::npos) << e.what();
  }
}

TEST(ScheduleExecutor, WaitTimeoutIsASafetyNet) {
  ir::Module m = lowered("tiny.json");
  ir::Schedule s = passes::lower_to_schedule(m, options(1, 1, 2, false, true));
  runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
  store.init_random(1);
  runtime::ScheduleExecutor exec(s, m, store, runtime::AdamWConfig{});
  exec.set_wait_timeout(std::chrono::milliseconds(60000));
  std::vector<runtime::TokenBatch> data = batches(256);
  EXPECT_NO_THROW(exec.step(data[0].tokens.data(), data[0].targets.data()));
  EXPECT_EQ(store.step(), 1);
}

}  // namespace
}  // namespace horizon
