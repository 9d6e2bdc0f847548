// Resident regions (passes/place_resident.h): layers whose planes and
// gradient stay on the GPU, measured and updated there. On the emulated
// device a schedule with any number of them trains to the same bits as the
// unstreamed reference, with and without clipping and micro-batches; the
// planner places as many as the GPU budget allows, in forward order, and
// never a tied layer; the verifier catches a GPU update that does not wait
// for the clip factor.
#include <gtest/gtest.h>

#include <cstring>

#include "ir/schedule.h"
#include "passes/schedule_pipeline.h"
#include "runtime/schedule_executor.h"
#include "runtime/trainer.h"
#include "support/error.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

constexpr int64_t kBatch = 4, kSeq = 16, kSteps = 3;
constexpr float kClip = 0.5f;  // small enough that clipping changes the update

using testing::lowered;

std::vector<runtime::TokenBatch> batches() { return testing::random_batches(kSteps, kBatch, kSeq, 17, 256, 5, 1); }

runtime::TrainConfig config(int64_t micro_batches, bool clip) {
  runtime::TrainConfig cfg;
  cfg.micro_batches = micro_batches;
  cfg.clip = clip ? kClip : 0.0f;
  cfg.adamw.weight_decay = 0.1f;
  return cfg;
}

passes::StreamingOptions options(int64_t M, bool clip, int64_t resident) {
  passes::StreamingOptions o;
  o.batch = kBatch;
  o.seq = kSeq;
  o.micro_batches = M;
  o.checkpoint_every = 2;
  o.clip = clip;
  o.resident = resident;
  return o;
}

struct Run {
  std::vector<double> losses, norms;
  std::vector<std::vector<uint32_t>> masters;
  std::vector<std::vector<uint16_t>> moments;
};

Run finish(const runtime::HostStore& store, Run r) {
  for (size_t t = 0; t < store.tensors().size(); ++t) {
    const int64_t n = store.tensors()[t].elements;
    std::vector<uint32_t> bits(static_cast<size_t>(n));
    store.get_master(static_cast<int>(t), reinterpret_cast<float*>(bits.data()));
    r.masters.push_back(std::move(bits));
    std::vector<uint16_t> m(static_cast<size_t>(n));
    std::memcpy(m.data(), store.m(static_cast<int>(t)), static_cast<size_t>(n) * 2);
    r.moments.push_back(std::move(m));
  }
  return r;
}

Run reference(const ir::Module& m, int64_t M, bool clip) {
  runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
  store.init_random(3);
  auto backend = runtime::make_unstreamed_step(m, store, config(M, clip));
  Run r;
  for (const runtime::TokenBatch& b : batches()) {
    const runtime::StepResult s = backend->step(b, 2e-3f);
    r.losses.push_back(s.loss);
    r.norms.push_back(s.grad_norm);
  }
  return finish(store, std::move(r));
}

Run emulated(const ir::Module& m, const ir::Schedule& s, bool clip) {
  runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
  store.init_random(3);
  runtime::ScheduleExecutor exec(s, m, store, config(1, clip).adamw, clip ? kClip : 0.0f);
  exec.set_learning_rate(2e-3f);
  Run r;
  for (const runtime::TokenBatch& b : batches()) {
    exec.step(b.tokens.data(), b.targets.data());
    r.losses.push_back(exec.last_step().loss);
    r.norms.push_back(exec.last_step().grad_norm);
  }
  exec.finish_updates();
  return finish(store, std::move(r));
}

int count(const ir::Schedule& s, ir::SchedOp op, ir::Stream stream) {
  int n = 0;
  for (const ir::SchedInstr& in : s.instrs) n += in.op == op && in.stream == stream ? 1 : 0;
  return n;
}

void expect_resident_matches_reference(const std::string& model, std::vector<int64_t> resident_counts) {
  const ir::Module m = lowered(model);
  for (int64_t M : {1, 2})
    for (bool clip : {true, false}) {
      const Run want = reference(m, M, clip);
      for (int64_t resident : resident_counts) {
        SCOPED_TRACE(model + " M=" + std::to_string(M) + " clip=" + std::to_string(clip) +
                     " resident=" + std::to_string(resident));
        const ir::Schedule s = passes::lower_to_schedule(m, options(M, clip, resident));
        EXPECT_GT(count(s, ir::SchedOp::optimizer_step, ir::Stream::compute), 0);
        const Run got = emulated(m, s, clip);
        EXPECT_EQ(got.losses, want.losses);
        EXPECT_EQ(got.norms, want.norms);
        ASSERT_EQ(got.masters.size(), want.masters.size());
        for (size_t t = 0; t < want.masters.size(); ++t) {
          EXPECT_TRUE(got.masters[t] == want.masters[t]) << "master of tensor " << t << " differs";
          EXPECT_TRUE(got.moments[t] == want.moments[t]) << "first moment of tensor " << t << " differs";
        }
      }
    }
}

TEST(ResidentSchedule, TinyMatchesTheReferenceBitForBit) {
  // 1: the embedding only; 3: embedding and two blocks; -1: every layer (nothing streams).
  expect_resident_matches_reference("tiny.json", {1, 3, -1});
}

TEST(ResidentSchedule, TiedModelKeepsBlocksResidentAndStreamsEmbeddingAndHead) {
  expect_resident_matches_reference("tiny-qwen.json", {-1});
  const ir::Module m = lowered("tiny-qwen.json");
  const ir::Schedule s = passes::lower_to_schedule(m, options(1, true, -1));
  // Blocks are bound from %resident; the tied embedding and head still stream.
  for (const ir::SchedInstr& in : s.instrs) {
    if (in.op != ir::SchedOp::bind) continue;
    const std::string& buffer = s.buffers[static_cast<size_t>(in.operands[0].range.buffer)].name;
    if (in.stage == "block")
      EXPECT_EQ(buffer, "resident") << ir::print_instr(s, in);
    else
      EXPECT_EQ(buffer.substr(0, 4), "slot") << ir::print_instr(s, in);
  }
  EXPECT_GT(count(s, ir::SchedOp::stream_in, ir::Stream::h2d), 0);
  try {
    passes::lower_to_schedule(m, options(1, true, 2));
    FAIL() << "the tied embedding was made resident";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("tied"), std::string::npos) << e.what();
  }
}

TEST(ResidentSchedule, EveryLayerResidentStreamsNothing) {
  const ir::Module m = lowered("tiny.json");
  const ir::Schedule s = passes::lower_to_schedule(m, options(2, true, -1));
  EXPECT_EQ(count(s, ir::SchedOp::stream_in, ir::Stream::h2d), 0);
  EXPECT_EQ(count(s, ir::SchedOp::offload, ir::Stream::d2h), 0);
  for (const ir::Buffer& b : s.buffers) {
    EXPECT_NE(b.kind, ir::BufferKind::weight_slot) << b.name;
    EXPECT_NE(b.kind, ir::BufferKind::grad_slab) << b.name;
  }
  // The text form round-trips, resident buffers and GPU norms included.
  const std::string text = ir::print_schedule(s);
  EXPECT_NE(text.find("compute  grad_norm block[0]"), std::string::npos);
  EXPECT_NE(text.find("compute  optimizer_step embed[0]"), std::string::npos);
  EXPECT_EQ(ir::print_schedule(ir::parse_schedule(text)), text);
}

TEST(ResidentSchedule, PlannerFillsTheGpuBudgetInForwardOrder) {
  const ir::Module m = lowered("tiny.json");
  passes::StreamingOptions o = options(1, true, 0);
  const ir::Schedule none = passes::lower_to_schedule(m, o);
  const int64_t streaming = none.bytes(ir::Place::gpu);
  // Room for about two and a half regions' planes and gradients (8 + 4 bytes per parameter).
  const int64_t embed = 256 * 256;  // tiny: vocab 256 x hidden 256
  o.resident = -1;
  o.gpu_bytes = static_cast<double>(streaming + 12 * embed * 5 / 2);
  const ir::Schedule some = passes::lower_to_schedule(m, o);
  std::vector<std::string> resident;
  for (const ir::SchedInstr& in : some.instrs)
    if (in.op == ir::SchedOp::optimizer_step && in.stream == ir::Stream::compute)
      resident.push_back(in.stage + "[" + std::to_string(in.instance) + "]");
  ASSERT_FALSE(resident.empty());
  EXPECT_EQ(resident.front(), "embed[0]");
  EXPECT_LE(some.bytes(ir::Place::gpu), static_cast<int64_t>(o.gpu_bytes));
  // Asking for more than fits names the budget and the fix.
  o.resident = 100;
  try {
    passes::lower_to_schedule(m, o);
    FAIL() << "--resident 100 fit";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("--resident"), std::string::npos) << e.what();
  }
}

TEST(ResidentSchedule, GpuUpdateThatDoesNotWaitForTheClipFactorIsARace) {
  const ir::Module m = lowered("tiny.json");
  ir::Schedule s = passes::lower_to_schedule(m, options(1, true, -1));
  // Drop the compute stream's wait for the CPU's collection of the norm.
  int scale = s.find_buffer("clip_scale");
  ASSERT_GE(scale, 0);
  int collector_event = -1;
  for (size_t i = 0; i + 1 < s.instrs.size(); ++i)
    if (s.instrs[i].op == ir::SchedOp::grad_norm && s.instrs[i].stream == ir::Stream::cpu &&
        s.instrs[i + 1].op == ir::SchedOp::record)
      collector_event = s.instrs[i + 1].event;
  ASSERT_GE(collector_event, 0);
  std::erase_if(s.instrs, [&](const ir::SchedInstr& in) {
    return in.op == ir::SchedOp::wait && in.stream == ir::Stream::compute && in.event == collector_event;
  });
  try {
    ir::verify_schedule(s);
    FAIL() << "a GPU update read the clip factor unordered";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("clip_scale"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace horizon
