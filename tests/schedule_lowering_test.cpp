// The streaming compiler: lowering to the schedule IR under every setting,
// the verifier accepting what it emits and rejecting each kind of planted
// race, PCIe crossings per block, and GPU memory independent of depth.
#include <gtest/gtest.h>

#include "frontend/llama_family.h"
#include "frontend/model_json.h"
#include "ir/schedule.h"
#include "passes/lower.h"
#include "passes/schedule_pipeline.h"
#include "support/error.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

using testing::lowered;

int count(const ir::Schedule& s, ir::SchedOp op, const std::string& stage = "", int64_t instance = -2) {
  int n = 0;
  for (const auto& in : s.instrs)
    if (in.op == op && (stage.empty() || in.stage == stage) && (instance == -2 || in.instance == instance)) ++n;
  return n;
}

std::string verify_error(const ir::Schedule& s) {
  try {
    ir::verify_schedule(s);
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

TEST(ScheduleLowering, EverySettingVerifies) {
  for (const char* model : {"tiny.json", "tiny-qwen.json", "tiny-gpt2.json"}) {
    ir::Module m = lowered(model);
    const int64_t L = m.find_stage("block")->instances;
    for (int64_t K : {int64_t{1}, int64_t{2}, L})
      for (int64_t M : {1, 4})
        for (int64_t slots : {2, 3})
          for (int host : {0, 1})
            for (bool clip : {false, true}) {
              passes::StreamingOptions o;
              o.batch = 4;
              o.seq = 16;
              o.micro_batches = M;
              o.checkpoint_every = K;
              o.slots = slots;
              o.host_checkpoints = host;
              o.clip = clip;
              SCOPED_TRACE(std::string(model) + " K=" + std::to_string(K) + " M=" + std::to_string(M) + " slots=" +
                           std::to_string(slots) + " host=" + std::to_string(host) + " clip=" + std::to_string(clip));
              ir::Schedule s = passes::lower_to_schedule(m, o);  // verifies
              EXPECT_EQ(count(s, ir::SchedOp::optimizer_step), static_cast<int>(L) + 2);
              EXPECT_EQ(count(s, ir::SchedOp::launch, "block"), static_cast<int>(L * M));
              EXPECT_EQ(count(s, ir::SchedOp::launch, "block.bwd"), static_cast<int>(L * M));
              EXPECT_EQ(count(s, ir::SchedOp::recompute), static_cast<int>((L - (L + K - 1) / K) * M));
              // With clipping each region's share of the norm is measured as its
              // slab lands, and the updates follow the last share in forward order.
              EXPECT_EQ(count(s, ir::SchedOp::grad_norm), clip ? static_cast<int>(L) + 2 : 0);
              if (clip) {
                int last_norm = -1, first_update = -1;
                std::vector<std::string> order;
                for (int i = 0; i < static_cast<int>(s.instrs.size()); ++i) {
                  if (s.instrs[static_cast<size_t>(i)].op == ir::SchedOp::grad_norm) last_norm = i;
                  if (s.instrs[static_cast<size_t>(i)].op != ir::SchedOp::optimizer_step) continue;
                  if (first_update < 0) first_update = i;
                  order.push_back(s.instrs[static_cast<size_t>(i)].stage +
                                  std::to_string(s.instrs[static_cast<size_t>(i)].instance));
                }
                EXPECT_LT(last_norm, first_update);
                std::vector<std::string> forward = {"embed0"};
                for (int64_t l = 0; l < L; ++l) forward.push_back("block" + std::to_string(l));
                forward.push_back("head0");
                EXPECT_EQ(order, forward);
              }
            }
  }
}

TEST(ScheduleLowering, WeightsCrossPcieTwicePerBlock) {
  ir::Module m = lowered("tiny.json");
  for (int64_t K : {1, 2}) {
    passes::StreamingOptions o;
    o.batch = 2;
    o.seq = 16;
    o.micro_batches = 2;
    o.checkpoint_every = K;  // slots default to K + 1
    ir::Schedule s = passes::lower_to_schedule(m, o);
    // Forward once, backward once; the last block is still resident when its backward starts.
    for (int64_t l = 0; l < 4; ++l) {
      EXPECT_GE(count(s, ir::SchedOp::stream_in, "block", l), 1) << "K=" << K << " block " << l;
      EXPECT_LE(count(s, ir::SchedOp::stream_in, "block", l), 2) << "K=" << K << " block " << l;
    }
    EXPECT_EQ(count(s, ir::SchedOp::stream_in, "block", 3), 1);
    EXPECT_EQ(count(s, ir::SchedOp::stream_in, "embed", 0), 2);
    EXPECT_EQ(count(s, ir::SchedOp::stream_in, "head", 0), 1);
  }
  // K = all blocks with 2 slots must re-stream: the compiler says so by counting.
  passes::StreamingOptions o;
  o.batch = 2;
  o.seq = 16;
  o.checkpoint_every = 4;
  o.slots = 2;
  EXPECT_GT(count(passes::lower_to_schedule(m, o), ir::SchedOp::stream_in, "block"), 8);
}

ir::Module llama(int64_t layers) {
  frontend::LlamaFamilyConfig c;
  c.name = "depth-" + std::to_string(layers);
  c.vocab = 1000;
  c.hidden = 256;
  c.layers = layers;
  c.heads = 4;
  c.kv_heads = 4;
  c.head_dim = 64;
  c.intermediate = 512;
  ir::Module m = frontend::module_from_json(frontend::llama_family_model(c), c.name);
  passes::lower(m);
  return m;
}

TEST(ScheduleLowering, GpuMemoryIsIndependentOfDepthWithHostCheckpoints) {
  passes::StreamingOptions o;
  o.batch = 4;
  o.seq = 64;
  o.micro_batches = 2;
  o.host_checkpoints = 1;
  ir::Schedule shallow = passes::lower_to_schedule(llama(16), o);
  ir::Schedule deep = passes::lower_to_schedule(llama(64), o);
  EXPECT_EQ(shallow.bytes(ir::Place::gpu), deep.bytes(ir::Place::gpu));
  EXPECT_GT(deep.bytes(ir::Place::host), shallow.bytes(ir::Place::host) * 3);
}

// A schedule to plant races in: tiny, 2 micro-batches, host checkpoints, no clipping.
ir::Schedule victim() {
  passes::StreamingOptions o;
  o.batch = 2;
  o.seq = 16;
  o.micro_batches = 2;
  o.clip = false;
  return passes::lower_to_schedule(lowered("tiny.json"), o);
}

ir::Stream recorded_on(const ir::Schedule& s, int event) {
  for (const auto& in : s.instrs)
    if (in.op == ir::SchedOp::record && in.event == event) return in.stream;
  return ir::Stream::compute;
}

// Removes the first wait on `stream` (for an event recorded on `from`, if
// given) among the waits that directly precede an instruction matching `pred`.
template <class Pred>
bool drop_wait_before(ir::Schedule& s, ir::Stream stream, Pred pred, int from = -1) {
  for (size_t i = 0; i < s.instrs.size(); ++i) {
    if (s.instrs[i].op != ir::SchedOp::wait || s.instrs[i].stream != stream) continue;
    if (from >= 0 && recorded_on(s, s.instrs[i].event) != static_cast<ir::Stream>(from)) continue;
    for (size_t j = i + 1; j < s.instrs.size(); ++j) {
      if (s.instrs[j].stream != stream) continue;
      if (s.instrs[j].op == ir::SchedOp::wait) continue;
      if (pred(s.instrs[j])) {
        s.instrs.erase(s.instrs.begin() + static_cast<long>(i));
        return true;
      }
      break;
    }
  }
  return false;
}

TEST(ScheduleVerifier, AcceptsTheLoweredSchedule) { EXPECT_EQ(verify_error(victim()), ""); }

TEST(ScheduleVerifier, RejectsComputeReadingASlotBeforeItsLoad) {
  ir::Schedule s = victim();
  ASSERT_TRUE(
      drop_wait_before(s, ir::Stream::compute, [](const ir::SchedInstr& in) { return in.op == ir::SchedOp::bind; }));
  std::string e = verify_error(s);
  EXPECT_NE(e.find("race on %slot"), std::string::npos) << e;
  EXPECT_NE(e.find("h2d stream_in"), std::string::npos) << e;
  EXPECT_NE(e.find("compute bind"), std::string::npos) << e;
}

TEST(ScheduleVerifier, RejectsOverwritingASlotStillBeingRead) {
  ir::Schedule s = victim();
  ASSERT_TRUE(
      drop_wait_before(s, ir::Stream::h2d, [](const ir::SchedInstr& in) { return in.op == ir::SchedOp::stream_in; }));
  std::string e = verify_error(s);
  EXPECT_NE(e.find("race on %slot"), std::string::npos) << e;
  EXPECT_NE(e.find("compute"), std::string::npos) << e;
}

TEST(ScheduleVerifier, RejectsOffloadingAGradientBeforeItIsComplete) {
  ir::Schedule s = victim();
  ASSERT_TRUE(
      drop_wait_before(s, ir::Stream::d2h, [](const ir::SchedInstr& in) { return in.op == ir::SchedOp::offload; }));
  std::string e = verify_error(s);
  EXPECT_NE(e.find("race on %gacc"), std::string::npos) << e;
  EXPECT_NE(e.find("d2h offload"), std::string::npos) << e;
}

TEST(ScheduleVerifier, RejectsReusingAGradientSlabBeforeTheOptimizerReadIt) {
  ir::Schedule s = victim();
  // The second offload into a slab must wait for the optimizer step that read it.
  int seen = 0;
  bool dropped = drop_wait_before(s, ir::Stream::d2h, [&](const ir::SchedInstr& in) {
    return in.op == ir::SchedOp::offload && ++seen > 0 && in.stage == "block" && in.instance == 1;
  });
  ASSERT_TRUE(dropped);
  std::string e = verify_error(s);
  EXPECT_NE(e.find("race on %"), std::string::npos) << e;
}

TEST(ScheduleVerifier, RejectsAnOptimizerStepBeforeItsGradientLands) {
  ir::Schedule s = victim();
  ASSERT_TRUE(drop_wait_before(
      s, ir::Stream::cpu, [](const ir::SchedInstr& in) { return in.op == ir::SchedOp::optimizer_step; },
      static_cast<int>(ir::Stream::d2h)));
  std::string e = verify_error(s);
  EXPECT_NE(e.find("race on %slab"), std::string::npos) << e;
  EXPECT_NE(e.find("cpu optimizer_step"), std::string::npos) << e;
  EXPECT_NE(e.find("d2h offload"), std::string::npos) << e;
}

TEST(ScheduleVerifier, RejectsADoubleUpdateAndAMissingOne) {
  ir::Schedule s = victim();
  for (size_t i = 0; i < s.instrs.size(); ++i)
    if (s.instrs[i].op == ir::SchedOp::optimizer_step && s.instrs[i].stage == "block" && s.instrs[i].instance == 2) {
      s.instrs.insert(s.instrs.begin() + static_cast<long>(i) + 1, s.instrs[i]);
      break;
    }
  EXPECT_NE(verify_error(s).find("block[2] is updated 2 times"), std::string::npos) << verify_error(s);

  ir::Schedule t = victim();
  for (size_t i = 0; i < t.instrs.size(); ++i)
    if (t.instrs[i].op == ir::SchedOp::optimizer_step && t.instrs[i].stage == "head") {
      t.instrs.erase(t.instrs.begin() + static_cast<long>(i));
      break;
    }
  EXPECT_NE(verify_error(t).find("head[0] is updated 0 times"), std::string::npos) << verify_error(t);
}

// Updates deferred into the next step (clipping) are checked against that
// step too: an update that also read the host checkpoints would race with
// the next forward's saves, which wait only for the embedding's update.
TEST(ScheduleVerifier, RejectsADeferredUpdateRacingWithTheNextStep) {
  passes::StreamingOptions o;
  o.batch = 2;
  o.seq = 16;
  o.host_checkpoints = 1;
  ir::Schedule s = passes::lower_to_schedule(lowered("tiny.json"), o);
  EXPECT_EQ(verify_error(s), "");
  const int ckpt = s.find_buffer("ckpt");
  ASSERT_GE(ckpt, 0);
  for (size_t i = s.instrs.size(); i-- > 0;)
    if (s.instrs[i].op == ir::SchedOp::optimizer_step) {
      // grad_tied: the role the provenance check leaves to the tied head.
      s.instrs[i].operands.push_back(
          ir::Operand{"grad_tied", {ckpt, 0, s.buffers[static_cast<size_t>(ckpt)].bytes}, false});
      break;
    }
  const std::string error = verify_error(s);
  EXPECT_NE(error.find("across two steps"), std::string::npos) << error;
  EXPECT_NE(error.find("race on %ckpt"), std::string::npos) << error;
}

TEST(ScheduleVerifier, RejectsAReadOfUnwrittenData) {
  ir::Schedule s = victim();
  for (auto& in : s.instrs)
    if (in.op == ir::SchedOp::launch && in.stage == "head.bwd") {
      for (auto& op : in.operands)
        if (op.role == "x") op.range.buffer = s.find_buffer("dx1");  // nothing wrote dx1 yet
      break;
    }
  std::string e = verify_error(s);
  EXPECT_NE(e.find("reads %dx1"), std::string::npos) << e;
  EXPECT_NE(e.find("was not written by any instruction ordered before it"), std::string::npos) << e;
}

TEST(ScheduleVerifier, RejectsAnUnrecordedEventAndADeadlock) {
  ir::Schedule s = victim();
  for (auto& in : s.instrs)
    if (in.op == ir::SchedOp::wait) {
      in.event = s.events + 7;
      break;
    }
  EXPECT_NE(verify_error(s).find("never recorded"), std::string::npos);

  ir::Schedule d;
  d.events = 2;
  ir::SchedInstr w0, r0, w1, r1;
  w0.op = w1.op = ir::SchedOp::wait;
  r0.op = r1.op = ir::SchedOp::record;
  w0.stream = r0.stream = ir::Stream::compute;
  w1.stream = r1.stream = ir::Stream::h2d;
  w0.event = 1, r0.event = 0, w1.event = 0, r1.event = 1;
  d.instrs = {w0, r0, w1, r1};
  EXPECT_NE(verify_error(d).find("deadlock"), std::string::npos) << verify_error(d);
}

}  // namespace
}  // namespace horizon
