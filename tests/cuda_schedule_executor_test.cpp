// The schedule on a real GPU against the same schedule on the emulated
// device (ScheduleExecutor, itself bit-exact with the unstreamed step): two
// steps of the tiny Llama and the tied tiny Qwen, one and two micro-batches,
// host checkpoints, clipping on and off. The GPU runs bf16 GEMMs where the
// CPU computes in fp32 from the same bf16 weights, so the comparison is by
// tolerance: losses within 2e-2 relative, and the weight change of the two
// steps (master after minus master before) within a few percent relative L2.
// AdamW's first steps move each weight by about lr * sign(gradient): an
// element whose gradient is below the noise of bf16 GEMM operands moves the
// other way, which costs 2 lr on that element — on the H200, about 0.1% of
// them, 5-6% relative L2 of the change. A wrong gradient costs 100% or more
// on its tensor, which the per-tensor bound catches even in a small tensor.
// Also: a
// steady step allocates no device memory, the executor holds exactly the
// schedule's GPU buffers plus its stage executors' scratch, the copies move
// the bytes the emulated executor moves, and the measured timeline and the
// CLI's `--device cuda` work. Skipped where no CUDA device is present.
#include <gtest/gtest.h>

#ifdef HORIZON_HAVE_CUDA

#include <cuda_runtime_api.h>

#include <array>
#include <cmath>
#include <nlohmann/json.hpp>
#include <utility>

#include "codegen/cpu/cpu_jit.h"
#include "frontend/model_json.h"
#include "ir/param_layout.h"
#include "passes/lower.h"
#include "passes/schedule_pipeline.h"
#include "runtime/cuda/cuda_schedule_executor.h"
#include "runtime/cuda/cuda_step.h"
#include "runtime/cuda/cuda_step_trace.h"
#include "runtime/cuda/stage_scratch.h"
#include "runtime/schedule_executor.h"
#include "support/error.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

constexpr int64_t kBatch = 4, kSeq = 32, kSteps = 2;
constexpr float kClip = 0.5f, kLr = 2e-3f;
constexpr double kLossTolerance = 2e-2;         // relative
constexpr double kChangeTolerance = 8e-2;       // relative L2 of the two steps' weight change, whole model
constexpr double kTensorChangeTolerance = 0.5;  // the same per tensor

using testing::lowered;

std::vector<runtime::TokenBatch> batches(int64_t steps) { return testing::random_batches(steps, kBatch, kSeq, 11); }

runtime::AdamWConfig adamw() {
  runtime::AdamWConfig a;
  a.weight_decay = 0.1f;
  return a;
}

struct Config {
  int64_t micro_batches = 1, checkpoint_every = 1, slots = 2;
  bool host_checkpoints = true, clip = true;
  int64_t resident = 0;  // layers kept and updated on the GPU (-1: all that may)
  int64_t kept = 0;      // blocks that keep their activations (-1: all that fit)
  std::string name() const {
    return "M=" + std::to_string(micro_batches) + " K=" + std::to_string(checkpoint_every) +
           " slots=" + std::to_string(slots) + " host_checkpoints=" + std::to_string(host_checkpoints) +
           " clip=" + std::to_string(clip) + " resident=" + std::to_string(resident) + " kept=" + std::to_string(kept);
  }
};

ir::Schedule schedule_of(const ir::Module& m, const Config& c) {
  passes::StreamingOptions o;
  o.batch = kBatch;
  o.seq = kSeq;
  o.micro_batches = c.micro_batches;
  o.checkpoint_every = c.checkpoint_every;
  o.slots = c.slots;
  o.host_checkpoints = c.host_checkpoints ? 1 : 0;
  o.clip = c.clip;
  o.resident = c.resident;
  o.keep_activations = c.kept;
  return passes::lower_to_schedule(m, o);
}

/// Every tensor's fp32 master.
std::vector<std::vector<float>> masters(const runtime::HostStore& store) {
  std::vector<std::vector<float>> all;
  for (size_t t = 0; t < store.tensors().size(); ++t) {
    all.emplace_back(static_cast<size_t>(store.tensors()[t].elements));
    store.get_master(static_cast<int>(t), all.back().data());
  }
  return all;
}

struct Outcome {
  std::vector<double> losses, norms;
  std::vector<std::vector<float>> change;  // per tensor: master after the steps minus master before
  int64_t h2d = 0, d2h = 0;
};

std::vector<std::vector<float>> minus(std::vector<std::vector<float>> after,
                                      const std::vector<std::vector<float>>& before) {
  for (size_t t = 0; t < after.size(); ++t)
    for (size_t i = 0; i < after[t].size(); ++i) after[t][i] -= before[t][i];
  return after;
}

// kSteps steps of `s` from the same initial store on either executor (both
// bring resident layers home in finish_updates before the store is read).
template <class Executor, class Configure>
Outcome run_steps(const ir::Module& m, const ir::Schedule& s, bool clip, const Configure& configure) {
  runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
  store.init_random(21);
  const std::vector<std::vector<float>> before = masters(store);
  Executor exec(s, m, store, adamw(), clip ? kClip : 0.0f);
  exec.set_learning_rate(kLr);
  configure(exec);
  Outcome r;
  for (const runtime::TokenBatch& b : batches(kSteps)) {
    exec.step(b.tokens.data(), b.targets.data());
    r.losses.push_back(exec.last_step().loss);
    r.norms.push_back(exec.last_step().grad_norm);
    r.h2d = exec.last_step().h2d_bytes;
    r.d2h = exec.last_step().d2h_bytes;
  }
  exec.finish_updates();
  r.change = minus(masters(store), before);
  return r;
}

Outcome on_emulated_device(const ir::Module& m, const ir::Schedule& s, bool clip) {
  return run_steps<runtime::ScheduleExecutor>(m, s, clip, [](runtime::ScheduleExecutor&) {});
}

Outcome on_gpu(const ir::Module& m, const ir::Schedule& s, bool clip, bool overlap = true) {
  return run_steps<runtime::cuda::CudaScheduleExecutor>(
      m, s, clip, [&](runtime::cuda::CudaScheduleExecutor& e) { e.set_overlap_updates(overlap); });
}

/// Squared L2 of got - want and of want.
std::pair<double, double> squares(const std::vector<float>& got, const std::vector<float>& want) {
  double diff = 0, norm = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    diff += (static_cast<double>(got[i]) - want[i]) * (static_cast<double>(got[i]) - want[i]);
    norm += static_cast<double>(want[i]) * want[i];
  }
  return {diff, norm};
}

class CudaScheduleExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (runtime::cuda::cuda_device_count(&why) == 0) GTEST_SKIP() << "no CUDA device (" << why << ")";
  }

  void expect_matches_emulated(const std::string& model, const std::vector<Config>& configs) {
    const ir::Module m = lowered(model);
    for (const Config& c : configs) {
      SCOPED_TRACE(model + " " + c.name());
      const ir::Schedule s = schedule_of(m, c);
      const Outcome want = on_emulated_device(m, s, c.clip);
      const Outcome got = on_gpu(m, s, c.clip);
      ASSERT_EQ(got.losses.size(), want.losses.size());
      for (size_t i = 0; i < want.losses.size(); ++i) {
        EXPECT_NEAR(got.losses[i], want.losses[i], kLossTolerance * std::abs(want.losses[i])) << "step " << i + 1;
        EXPECT_NEAR(got.norms[i], want.norms[i], 5e-2 * want.norms[i]) << "gradient norm of step " << i + 1;
      }
      double diff = 0, norm = 0, worst = 0;
      std::string worst_name;
      const ir::ParamLayout layout = ir::layout_params(m);  // the stores' tensors, in order
      for (size_t t = 0; t < want.change.size(); ++t) {
        const auto [d, n] = squares(got.change[t], want.change[t]);
        diff += d;
        norm += n;
        const double rel = n > 0 ? std::sqrt(d / n) : std::sqrt(d);
        EXPECT_LT(rel, kTensorChangeTolerance) << "the change of " << layout.tensors[t].name << " differs";
        if (rel > worst) worst = rel, worst_name = layout.tensors[t].name;
      }
      const double change = std::sqrt(diff / norm);
      EXPECT_LT(change, kChangeTolerance) << "weight change differs by " << change << " relative L2";
      std::printf("[ info     ] %s %s: losses %.5f %.5f (cpu %.5f %.5f), weight change rel L2 %.4f (worst %s %.3f)\n",
                  model.c_str(), c.name().c_str(), got.losses[0], got.losses[1], want.losses[0], want.losses[1], change,
                  worst_name.c_str(), worst);
      EXPECT_EQ(got.h2d, want.h2d);
      EXPECT_EQ(got.d2h, want.d2h);
    }
  }
};

std::vector<Config> standard_configs() {
  std::vector<Config> out;
  for (int64_t M : {1, 2})
    for (bool clip : {true, false}) out.push_back(Config{M, 1, 2, true, clip});
  // Recompute segments and GPU checkpoints: restores and saves on the compute stream.
  out.push_back(Config{2, 2, 3, false, true});
  return out;
}

TEST_F(CudaScheduleExecutorTest, TinyMatchesEmulatedDevice) {
  expect_matches_emulated("tiny.json", standard_configs());
}

TEST_F(CudaScheduleExecutorTest, TiedQwenMatchesEmulatedDevice) {
  expect_matches_emulated("tiny-qwen.json", standard_configs());
}

TEST_F(CudaScheduleExecutorTest, Qwen3MatchesEmulatedDevice) {
  expect_matches_emulated("tiny-qwen3.json", standard_configs());
}

// Resident layers (passes/place_resident.h): norm and AdamW on the GPU.
TEST_F(CudaScheduleExecutorTest, ResidentLayersMatchEmulatedDevice) {
  std::vector<Config> configs;
  for (int64_t resident : {2, -1})
    for (bool clip : {true, false}) configs.push_back(Config{2, 1, 2, true, clip, resident});
  expect_matches_emulated("tiny.json", configs);
  expect_matches_emulated("tiny-qwen.json", {Config{2, 2, 3, false, true, -1}});
}

// The GPU's AdamW is the CPU JIT's op for op: without clipping (where the
// norm's summation order cannot matter) a resident layer ends up with the
// bits it would have had streamed, where the JIT fuses multiply-adds.
TEST_F(CudaScheduleExecutorTest, ResidentLayersGiveTheStreamedBitsWithoutClipping) {
  if (codegen::cpu::CpuJit::get().isa() == codegen::cpu::Isa::sse)
    GTEST_SKIP() << "the CPU JIT targets SSE (no FMA): its AdamW rounds differently from the GPU's";
  const ir::Module m = lowered("tiny.json");
  const Outcome streamed = on_gpu(m, schedule_of(m, Config{2, 1, 2, true, false, 0}), false);
  const Outcome resident = on_gpu(m, schedule_of(m, Config{2, 1, 2, true, false, -1}), false);
  EXPECT_EQ(resident.losses, streamed.losses);
  EXPECT_TRUE(resident.change == streamed.change) << "the weights differ after " << kSteps << " steps";
  for (size_t i = 0; i < streamed.norms.size(); ++i)
    EXPECT_NEAR(resident.norms[i], streamed.norms[i], 1e-9 * streamed.norms[i]);
}

// Blocks that keep their activations (passes/add_kept_stages.h) run
// block.keep and block.kept.bwd: the backward reads the values the forward
// computed instead of computing them again with the same kernels, so the
// step gives the bits of the recomputing one — streamed or resident, one
// micro-batch or two, some blocks kept or all.
TEST_F(CudaScheduleExecutorTest, KeptActivationsGiveTheRecomputedBits) {
  for (const char* model : {"tiny.json", "tiny-qwen3.json"}) {
    const ir::Module m = lowered(model);
    for (const Config& kept : {Config{2, 1, 2, true, true, 0, 1}, Config{1, 1, 2, false, true, -1, -1}}) {
      SCOPED_TRACE(std::string(model) + " " + kept.name());
      Config recomputed = kept;
      recomputed.kept = 0;
      const ir::Schedule with = schedule_of(m, kept);
      ASSERT_NE(ir::print_schedule(with).find("launch block.kept.bwd"), std::string::npos);
      const Outcome got = on_gpu(m, with, true), want = on_gpu(m, schedule_of(m, recomputed), true);
      EXPECT_EQ(got.losses, want.losses);
      EXPECT_EQ(got.norms, want.norms);
      EXPECT_TRUE(got.change == want.change) << "the weights differ after " << kSteps << " steps";
    }
  }
  // And the emulated device agrees as for any schedule.
  expect_matches_emulated("tiny.json", {Config{2, 1, 2, true, true, -1, -1}});
}

// Updates deferred past the step (runtime/update_tail.h) wait for nothing
// but the next step's weight copies wait for them: the same program with
// and without the overlap must give the same bits, step after step.
TEST_F(CudaScheduleExecutorTest, DeferredUpdatesGiveTheSameBitsAsUpdatesInTheStep) {
  for (const char* model : {"tiny.json", "tiny-qwen.json"}) {
    SCOPED_TRACE(model);
    const ir::Module m = lowered(model);
    const ir::Schedule s = schedule_of(m, Config{2, 1, 2, true, true});
    const Outcome in_step = on_gpu(m, s, true, false);
    const Outcome deferred = on_gpu(m, s, true, true);
    EXPECT_EQ(deferred.losses, in_step.losses);
    EXPECT_EQ(deferred.norms, in_step.norms);
    EXPECT_TRUE(deferred.change == in_step.change) << "the weights differ after " << kSteps << " steps";
  }
}

TEST_F(CudaScheduleExecutorTest, SteadyStepsAllocateNothingAndMemoryIsThePlan) {
  const ir::Module m = lowered("tiny-qwen.json");
  const ir::Schedule s = schedule_of(m, Config{2, 1, 2, true, true});
  runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
  store.init_random(3);
  size_t free_before_build = 0, free_after_build = 0, total = 0;
  ASSERT_EQ(cudaMemGetInfo(&free_before_build, &total), cudaSuccess);
  runtime::cuda::CudaScheduleExecutor exec(s, m, store, adamw(), kClip);
  ASSERT_EQ(cudaMemGetInfo(&free_after_build, &total), cudaSuccess);
  exec.set_learning_rate(kLr);

  EXPECT_EQ(exec.device_bytes(), s.bytes(ir::Place::gpu) + exec.scratch_bytes());
  // `horizon plan` predicts the stage scratch from the same programs; only
  // the 16-byte landing slot of scalar outputs is the executor's own.
  const int64_t planned = runtime::cuda::planned_stage_scratch(s, m);
  EXPECT_GE(exec.scratch_bytes(), planned);
  EXPECT_LE(exec.scratch_bytes(), planned + 16);
  const int64_t taken = static_cast<int64_t>(free_before_build) - static_cast<int64_t>(free_after_build);
  EXPECT_GE(taken, s.bytes(ir::Place::gpu)) << "the schedule's buffers are not all on the device";

  const std::vector<runtime::TokenBatch> data = batches(3);
  exec.step(data[0].tokens.data(), data[0].targets.data());  // the first step may load modules lazily
  size_t free_before = 0, free_after = 0;
  ASSERT_EQ(cudaMemGetInfo(&free_before, &total), cudaSuccess);
  for (size_t i = 1; i < data.size(); ++i) exec.step(data[i].tokens.data(), data[i].targets.data());
  ASSERT_EQ(cudaMemGetInfo(&free_after, &total), cudaSuccess);
  EXPECT_EQ(free_after, free_before) << "steps 2 and 3 allocated device memory";
  exec.finish_updates();
  EXPECT_EQ(store.step(), 3);
}

TEST_F(CudaScheduleExecutorTest, TimelineCoversEveryStreamAndWritesATrace) {
  const ir::Module m = lowered("tiny.json");
  const ir::Schedule s = schedule_of(m, Config{2, 1, 2, true, true});
  runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
  store.init_random(3);
  runtime::cuda::CudaScheduleExecutor exec(s, m, store, adamw(), kClip);
  exec.set_learning_rate(kLr);
  const std::vector<runtime::TokenBatch> data = batches(2);
  for (const runtime::TokenBatch& b : data) exec.step(b.tokens.data(), b.targets.data());
  // The last step's updates run after it returns (deferred); once they are
  // done its timeline has them too.
  exec.finish_updates();
  const runtime::cuda::CudaStepMeasurements& ms = exec.last_step();
  EXPECT_GT(ms.step_seconds, 0);
  for (ir::Stream st : {ir::Stream::compute, ir::Stream::h2d, ir::Stream::d2h, ir::Stream::cpu}) {
    EXPECT_GT(ms.busy_seconds[static_cast<size_t>(st)], 0) << ir::stream_name(st);
    EXPECT_LE(ms.busy_seconds[static_cast<size_t>(st)], ms.step_seconds * 1.05) << ir::stream_name(st);
  }
  EXPECT_GT(ms.h2d_gbps(), 0);
  EXPECT_GT(ms.d2h_gbps(), 0);
  for (size_t i = 0; i < s.instrs.size(); ++i) {
    const ir::SchedInstr& in = s.instrs[i];
    if (in.op != ir::SchedOp::launch && in.op != ir::SchedOp::stream_in && in.op != ir::SchedOp::optimizer_step)
      continue;
    EXPECT_GE(ms.spans[i].start, 0) << ir::print_instr(s, in);
    EXPECT_GE(ms.spans[i].end, ms.spans[i].start) << ir::print_instr(s, in);
  }

  testing::TempDir dir;
  const std::string path = dir.path() + "/step.json";
  runtime::cuda::write_cuda_trace(path, s, ms, "test step");
  const nlohmann::json trace = nlohmann::json::parse(testing::read_file(path));
  std::array<int, ir::kNumStreams> slices{};
  for (const auto& e : trace["traceEvents"])
    if (e["ph"] == "X") ++slices[e["tid"].get<size_t>()];
  for (int st = 0; st < ir::kNumStreams; ++st)
    EXPECT_GT(slices[static_cast<size_t>(st)], 0) << ir::stream_name(static_cast<ir::Stream>(st));
}

TEST_F(CudaScheduleExecutorTest, OptimizerOnAGpuStreamIsRejected) {
  const ir::Module m = lowered("tiny.json");
  ir::Schedule s = schedule_of(m, Config{});
  int victim = -1;
  for (size_t i = 0; i < s.instrs.size() && victim < 0; ++i)
    if (s.instrs[i].op == ir::SchedOp::optimizer_step) victim = static_cast<int>(i);
  ASSERT_GE(victim, 0);
  s.instrs[static_cast<size_t>(victim)].stream = ir::Stream::d2h;
  runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
  try {
    runtime::cuda::CudaScheduleExecutor exec(s, m, store, adamw());
    FAIL() << "an optimizer_step on a GPU stream was accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("#" + std::to_string(victim)), std::string::npos) << e.what();
  }
}

TEST_F(CudaScheduleExecutorTest, TrainCommandOnCudaLearnsLikeTheCpu) {
  testing::TempDir dir;
  std::string text;
  for (int i = 0; i < 300; ++i) text += "streams, slots and events " + std::to_string(i % 7) + "\n";
  const std::string data = dir.write("corpus.txt", text);
  const std::string trace = dir.path() + "/trace.json";
  const std::string common = testing::source_path("models/tiny-qwen.json") + " --data " + data +
                             " --steps 3 --batch 4 --seq 32 --micro-batches 2 --seed 2";
  testing::CommandResult cpu = testing::run_horizon("train " + common + " --device cpu");
  testing::CommandResult gpu = testing::run_horizon("train " + common + " --device cuda --trace " + trace);
  ASSERT_EQ(cpu.exit_code, 0) << cpu.err;
  ASSERT_EQ(gpu.exit_code, 0) << gpu.err;
  EXPECT_NE(gpu.out.find("cuda: "), std::string::npos) << gpu.out;
  EXPECT_NE(gpu.out.find("compute busy"), std::string::npos) << gpu.out;
  auto final_loss = [](const std::string& out) {
    const size_t at = out.rfind("loss ");
    return at == std::string::npos ? -1.0 : std::stod(out.substr(out.find("-> ", at) + 3));
  };
  EXPECT_NEAR(final_loss(gpu.out), final_loss(cpu.out), kLossTolerance * final_loss(cpu.out)) << gpu.out;
  EXPECT_NO_THROW(nlohmann::json::parse(testing::read_file(trace)));
}

}  // namespace
}  // namespace horizon

#endif  // HORIZON_HAVE_CUDA

namespace horizon {
namespace {

// Runs everywhere: the probe `--device auto` relies on answers without a GPU or a driver.
TEST(CudaScheduleExecutor, DeviceProbeNeverThrows) {
#ifdef HORIZON_HAVE_CUDA
  std::string why;
  const int count = runtime::cuda::cuda_device_count(&why);
  EXPECT_GE(count, 0);
  if (count == 0) {
    EXPECT_FALSE(why.empty());
  }
#else
  GTEST_SKIP() << "built without CUDA";
#endif
}

}  // namespace
}  // namespace horizon
