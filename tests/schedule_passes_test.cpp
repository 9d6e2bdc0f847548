// The schedule passes that insert nodes, tested the XLA / MLIR FileCheck
// way: schedule text in, the pass, schedule text out, and its changed flag.
// The plain schedule of tiny (lower_to_schedule: every block input kept in
// %acts, weights bound from the store, no slots, no events) is a golden
// file; insert_recompute turns it into the golden with checkpoints and
// recompute, insert_offload that into the golden with host checkpoints and
// restores, insert_buffer_swap that into the golden with slots and
// stream_in, insert_events that into the pipeline's own final schedule. CHECK
// lines pin what each pass inserted; the checker itself is shown to fail.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "ir/schedule.h"
#include "passes/insert_buffer_swap.h"
#include "passes/insert_events.h"
#include "passes/insert_offload.h"
#include "passes/insert_recompute.h"
#include "passes/place_resident.h"
#include "passes/plan_buffer_slots.h"
#include "passes/plan_kept_activations.h"
#include "passes/plan_memory.h"
#include "passes/plan_offload.h"
#include "passes/plan_recompute.h"
#include "passes/plan_resident.h"
#include "passes/schedule_pipeline.h"
#include "passes/step_plan.h"
#include "support/error.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

// A FileCheck subset: "CHECK: s" finds s at or after the line of the
// previous match, "CHECK-NEXT: s" on the line right after it, "CHECK-SAME: s"
// on the line of the previous match, "CHECK-NOT: s" on no line between the
// previous match and the next one (or the end).
// Returns "" or what failed.
std::string file_check(const std::string& text, const std::vector<std::string>& checks) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  size_t at = 0;  // first line the next CHECK may match
  std::vector<std::string> nots;
  auto clear_nots = [&](size_t from, size_t to) -> std::string {
    for (const std::string& n : nots)
      for (size_t l = from; l < to && l < lines.size(); ++l)
        if (lines[l].find(n) != std::string::npos)
          return "CHECK-NOT: " + n + " matched line " + std::to_string(l + 1) + ": " + lines[l];
    nots.clear();
    return "";
  };
  for (const std::string& c : checks) {
    const size_t colon = c.find(": ");
    const std::string kind = c.substr(0, colon), pattern = c.substr(colon + 2);
    if (kind == "CHECK-NOT") {
      nots.push_back(pattern);
      continue;
    }
    if (kind == "CHECK-SAME") {
      if (at == 0 || lines[at - 1].find(pattern) == std::string::npos)
        return c + ": not on line " + std::to_string(at) + (at ? ": " + lines[at - 1] : "");
      continue;
    }
    size_t found = lines.size();
    if (kind == "CHECK-NEXT") {
      if (at < lines.size() && lines[at].find(pattern) != std::string::npos) found = at;
    } else {
      for (size_t l = at; l < lines.size(); ++l)
        if (lines[l].find(pattern) != std::string::npos) {
          found = l;
          break;
        }
    }
    if (found == lines.size()) return c + ": no match from line " + std::to_string(at + 1);
    if (std::string e = clear_nots(at, found); !e.empty()) return e;
    at = found + 1;
  }
  return clear_nots(at, lines.size());
}

passes::StreamingOptions tiny_options() {
  passes::StreamingOptions o;
  o.batch = 2;
  o.seq = 16;
  o.checkpoint_every = 2;
  o.host_checkpoints = 1;  // tiny's would fit the GPU (auto keeps them there); these goldens show the offload
  o.resident = 0;
  return o;
}

// The planning passes in pipeline order: what insert_buffer_swap reads.
passes::StepPlan planned(const ir::Module& m, const passes::StreamingOptions& o) {
  passes::StepPlan p = passes::make_step_plan(m, o);
  passes::plan_memory(p);
  passes::plan_recompute(p);
  passes::plan_offload(p);
  passes::plan_buffer_slots(p);
  passes::plan_resident(p);
  passes::plan_kept_activations(p);
  return p;
}

class SchedulePasses : public ::testing::Test {
 protected:
  const ir::Module m = testing::lowered("tiny.json");
  const passes::StepPlan plan = planned(m, tiny_options());
  std::string plain() const {
    std::ostringstream sink;
    return ir::print_schedule(passes::lower_to_schedule(m, tiny_options(), "lower_to_schedule", &sink));
  }
  static ir::Schedule golden(const std::string& name) {
    return ir::parse_schedule(testing::read_file(testing::source_path("tests/golden/" + name)), name);
  }
};

TEST_F(SchedulePasses, LowerToScheduleKeepsEveryInputAndBindsWeightsFromTheStore) {
  const std::string text = plain();
  EXPECT_EQ(testing::check_golden("schedule-passes/tiny.lower_to_schedule.txt", text), "");
  // tiny has 4 blocks: 5 inputs of 2 x 16 x 256 fp32 kept.
  EXPECT_EQ(file_check(text, {"CHECK-NOT: %slot",
                              "CHECK-NOT: %ckpt",
                              "CHECK-NOT: %x1",
                              "CHECK-NOT: stream_in",
                              "CHECK-NOT: record",
                              "CHECK-NOT: wait",
                              "CHECK-NOT: save",
                              "CHECK-NOT: recompute",
                              "CHECK-NOT: offload",
                              "CHECK-NOT: %gacc0",
                              "CHECK-NOT: %slab",
                              "CHECK: buffer %acts : gpu activations 163840",
                              "CHECK: buffer %grads : gpu gradient",
                              "CHECK: compute  bind embed[0] (weights: %store[0:131072] r)",
                              "CHECK-NEXT: compute  launch embed[0] mb=0 (weights: %store[0:131072] r",
                              "CHECK-SAME: y: %acts[0:32768] w",
                              "CHECK: compute  bind block[0] (weights: %store[",
                              "CHECK-NEXT: compute  launch block[0] mb=0",
                              "CHECK: launch block.bwd[3] mb=0",
                              "CHECK-SAME: x: %acts[98304:131072] r",
                              "CHECK-SAME: grad: %grads[",
                              "CHECK-NEXT: cpu      grad_norm block[3] (grad: %grads["}),
            "")
      << text;
}

TEST_F(SchedulePasses, InsertRecomputeSavesEveryKthInputAndRecomputesEachSegment) {
  ir::Schedule s = golden("schedule-passes/tiny.lower_to_schedule.txt");
  EXPECT_TRUE(passes::insert_recompute(plan, s));
  const std::string text = ir::print_schedule(s);
  EXPECT_EQ(testing::check_golden("schedule-passes/tiny.insert_recompute.txt", text), "");
  // K = 2: two saves, and before each segment's backward the recompute of
  // its first block from the checkpoint into %seg (K - 1 = 1 input).
  EXPECT_EQ(file_check(text, {"CHECK-NOT: %acts",
                              "CHECK: buffer %x0 : gpu activations 32768",
                              "CHECK-NEXT: buffer %x1 : gpu activations 32768",
                              "CHECK: buffer %dx1",
                              "CHECK-NEXT: buffer %ckpt : gpu checkpoint 65536",
                              "CHECK-NEXT: buffer %seg : gpu activations 32768",
                              "CHECK: compute  bind block[0]",
                              "CHECK-NEXT: compute  save block[0] mb=0 (src: %x0[0:32768] r, dst: %ckpt[0:32768] w)",
                              "CHECK-NEXT: compute  launch block[0] mb=0",
                              "CHECK-SAME: x: %x0[0:32768] r, y: %x1[0:32768] w",
                              "CHECK: compute  save block[2] mb=0 (src: %x0[0:32768] r, dst: %ckpt[32768:65536] w)",
                              "CHECK: launch head.bwd[0] mb=0",
                              "CHECK-SAME: x: %x0[0:32768] r",
                              "CHECK: compute  bind block[2]",
                              "CHECK-NEXT: compute  recompute block[2] mb=0",
                              "CHECK-SAME: x: %ckpt[32768:65536] r",
                              "CHECK-SAME: y: %seg[0:32768] w",
                              "CHECK-NEXT: compute  bind block[3]",
                              "CHECK-NEXT: compute  launch block.bwd[3] mb=0",
                              "CHECK-SAME: x: %seg[0:32768] r",
                              "CHECK: compute  launch block.bwd[2] mb=0",
                              "CHECK-SAME: x: %ckpt[32768:65536] r",
                              "CHECK: compute  recompute block[0] mb=0",
                              "CHECK-NOT: save"}),
            "")
      << text;
  EXPECT_EQ(text.find("restore"), std::string::npos) << "restores are insert_offload's";
  // Nothing is kept any more: a second run changes nothing.
  EXPECT_FALSE(passes::insert_recompute(plan, s));
}

TEST_F(SchedulePasses, InsertOffloadMovesCheckpointsAndGradientsToTheHost) {
  ir::Schedule s = golden("schedule-passes/tiny.insert_recompute.txt");
  EXPECT_TRUE(passes::insert_offload(plan, s));
  const std::string text = ir::print_schedule(s);
  EXPECT_EQ(testing::check_golden("schedule-passes/tiny.insert_offload.txt", text), "");
  // %seg holds two segments of K = 2 inputs; segment [2, 3] uses the upper half.
  EXPECT_EQ(
      file_check(text,
                 {"CHECK: buffer %ckpt : host checkpoint 65536", "CHECK-NEXT: buffer %seg : gpu activations 131072",
                  "CHECK: d2h      save block[0] mb=0 (src: %x0[0:32768] r, dst: %ckpt[0:32768] w)",
                  "CHECK: d2h      save block[2] mb=0",
                  "CHECK: h2d      restore block[2] mb=0 (src: %ckpt[32768:65536] r, dst: %seg[65536:98304] w)",
                  "CHECK-NEXT: compute  bind block[2]", "CHECK-NEXT: compute  recompute block[2] mb=0",
                  "CHECK-SAME: x: %seg[65536:98304] r", "CHECK-SAME: y: %seg[98304:131072] w",
                  "CHECK-NEXT: compute  bind block[3]", "CHECK-NEXT: compute  launch block.bwd[3] mb=0",
                  "CHECK-SAME: x: %seg[98304:131072] r", "CHECK: compute  launch block.bwd[2] mb=0",
                  "CHECK-SAME: x: %seg[65536:98304] r",
                  "CHECK: h2d      restore block[0] mb=0 (src: %ckpt[0:32768] r, dst: %seg[0:32768] w)",
                  "CHECK-NOT: compute  save"}),
      "")
      << text;
  // Gradients: two accumulators in turn (head.bwd takes %gacc0), one slab per
  // region with clipping, each offloaded after its last micro-batch.
  EXPECT_EQ(
      file_check(text, {"CHECK-NOT: %grads", "CHECK: buffer %gacc0 : gpu gradient 3164160",
                        "CHECK-NEXT: buffer %gacc1 : gpu gradient 3164160",
                        "CHECK-NEXT: buffer %slab0 : host grad_slab 262144", "CHECK: buffer %slab5",
                        "CHECK-NEXT: buffer %arena", "CHECK: launch head.bwd[0] mb=0", "CHECK-SAME: grad: %gacc0[0:",
                        "CHECK-NEXT: d2h      offload head[0] (src: %gacc0[0:", "CHECK-SAME: dst: %slab5[0:",
                        "CHECK-NEXT: cpu      grad_norm head[0] (grad: %slab5[0:", "CHECK: launch block.bwd[3] mb=0",
                        "CHECK-SAME: grad: %gacc1[0:3164160] w",
                        "CHECK-NEXT: d2h      offload block[3] (src: %gacc1[0:3164160] r, dst: %slab4[0:3164160] w)",
                        "CHECK-NEXT: cpu      grad_norm block[3] (grad: %slab4[0:3164160] r)",
                        "CHECK: cpu      optimizer_step embed[0] (grad: %slab0[0:262144] r"}),
      "")
      << text;
  EXPECT_FALSE(passes::insert_offload(plan, s));  // already on the host
}

// --grad-offload bf16: a cast on the compute stream right before each
// offload, in place in the accumulator, and half the bytes into half-size
// slabs (tiny's block: 791,040 gradients, 3,164,160 bytes -> 1,582,080).
TEST_F(SchedulePasses, InsertOffloadInBf16CastsBeforeEachOffloadIntoHalfSizeSlabs) {
  passes::StreamingOptions o = tiny_options();
  o.bf16_gradients = true;
  const passes::StepPlan bf16 = planned(m, o);
  ir::Schedule s = golden("schedule-passes/tiny.insert_recompute.txt");
  EXPECT_TRUE(passes::insert_offload(bf16, s));
  const std::string text = ir::print_schedule(s);
  EXPECT_EQ(testing::check_golden("schedule-passes/tiny.insert_offload.bf16.txt", text), "");
  EXPECT_EQ(
      file_check(
          text,
          {"CHECK: config {", "CHECK-SAME: bf16_gradients = 1", "CHECK: buffer %gacc0 : gpu gradient 3164160",
           "CHECK-NEXT: buffer %gacc1 : gpu gradient 3164160", "CHECK-NEXT: buffer %slab0 : host grad_slab 131072",
           "CHECK-NEXT: buffer %slab1 : host grad_slab 1582080", "CHECK: buffer %slab5", "CHECK-NEXT: buffer %arena",
           "CHECK: launch head.bwd[0] mb=0",
           "CHECK-NEXT: compute  cast head[0] (src: %gacc0[0:263168] r, dst: %gacc0[0:131584] w)",
           "CHECK-NEXT: d2h      offload head[0] (src: %gacc0[0:131584] r, dst: %slab5[0:131584] w)",
           "CHECK: launch block.bwd[3] mb=0", "CHECK-SAME: grad: %gacc1[0:3164160] w",
           "CHECK-NEXT: compute  cast block[3] (src: %gacc1[0:3164160] r, dst: %gacc1[0:1582080] w)",
           "CHECK-NEXT: d2h      offload block[3] (src: %gacc1[0:1582080] r, dst: %slab4[0:1582080] w)",
           "CHECK-NEXT: cpu      grad_norm block[3] (grad: %slab4[0:1582080] r)",
           "CHECK: cpu      optimizer_step embed[0] (grad: %slab0[0:131072] r"}),
      "")
      << text;
  // The text form keeps the flag and the casts.
  EXPECT_EQ(ir::print_schedule(ir::parse_schedule(text)), text);
  // The whole pipeline verifies with the casts in place (events order each
  // cast before its offload, and the next backward after both).
  EXPECT_NO_THROW(ir::verify_schedule(passes::lower_to_schedule(m, o)));
}

TEST_F(SchedulePasses, InsertOffloadWithoutClippingRotatesTwoSlabsAndKeepsGpuCheckpoints) {
  passes::StreamingOptions o = tiny_options();
  o.host_checkpoints = 0;
  o.clip = false;
  const passes::StepPlan unclipped = planned(m, o);
  std::ostringstream sink;
  ir::Schedule s = passes::lower_to_schedule(m, o, "insert_recompute", &sink);
  EXPECT_TRUE(passes::insert_offload(unclipped, s));
  const std::string text = ir::print_schedule(s);
  EXPECT_EQ(file_check(
                text, {"CHECK: buffer %ckpt : gpu checkpoint", "CHECK: buffer %slab0 : host grad_slab 3164160",
                       "CHECK-NEXT: buffer %slab1 : host grad_slab 3164160", "CHECK-NEXT: buffer %arena",
                       "CHECK: compute  save block[0]", "CHECK: d2h      offload head[0]", "CHECK-SAME: dst: %slab0[",
                       "CHECK-NEXT: cpu      optimizer_step head[0] (grad: %slab0[", "CHECK: d2h      offload block[3]",
                       "CHECK-SAME: dst: %slab1[", "CHECK-NEXT: cpu      optimizer_step block[3] (grad: %slab1[",
                       "CHECK: d2h      offload block[2]", "CHECK-SAME: dst: %slab0[", "CHECK-NOT: restore"}),
            "")
      << text;
  EXPECT_EQ(text.find("restore"), std::string::npos);
  EXPECT_FALSE(passes::insert_offload(unclipped, s));
}

TEST_F(SchedulePasses, InsertRecomputeWithGpuCheckpointsEveryBlockRecomputesNothing) {
  passes::StreamingOptions o = tiny_options();
  o.checkpoint_every = 1;
  o.host_checkpoints = 0;
  const passes::StepPlan every = planned(m, o);
  std::ostringstream sink;
  ir::Schedule s = passes::lower_to_schedule(m, o, "lower_to_schedule", &sink);
  EXPECT_TRUE(passes::insert_recompute(every, s));
  const std::string text = ir::print_schedule(s);
  EXPECT_EQ(file_check(text, {"CHECK-NOT: %seg", "CHECK-NOT: restore", "CHECK-NOT: recompute",
                              "CHECK: buffer %ckpt : gpu checkpoint 131072",
                              "CHECK: compute  save block[3] mb=0 (src: %x1[0:32768] r, dst: %ckpt[98304:131072] w)",
                              "CHECK: launch block.bwd[3] mb=0", "CHECK-SAME: x: %ckpt[98304:131072] r"}),
            "")
      << text;
}

// Blocks 0 and 1 keep their activations: their forward runs block.keep
// into their share of %kept (q, k, v, attn, attn_out of 2 x 16 x 256 and
// gate, up of 2 x 16 x 688, fp32: 339,968 bytes), their backward
// block.kept.bwd from it; blocks 2 and 3 run the plain stages.
TEST_F(SchedulePasses, InsertRecomputeKeepsThePlannedBlocksActivations) {
  passes::StreamingOptions o = tiny_options();
  o.checkpoint_every = 1;
  o.keep_activations = 2;
  const passes::StepPlan keeping = planned(m, o);
  ASSERT_EQ(keeping.kept_blocks, 2);
  EXPECT_EQ(keeping.kept_mb_bytes(), 339968);
  std::ostringstream sink;
  ir::Schedule s = passes::lower_to_schedule(m, o, "lower_to_schedule", &sink);
  EXPECT_TRUE(passes::insert_recompute(keeping, s));
  const std::string text = ir::print_schedule(s);
  EXPECT_EQ(file_check(text, {"CHECK: buffer %kept : gpu kept 679936", "CHECK: arena block.keep",
                              "CHECK: arena block.kept.bwd", "CHECK: launch block.keep[0] mb=0",
                              "CHECK-SAME: saved: %kept[0:339968] w", "CHECK: launch block.keep[1] mb=0",
                              "CHECK-SAME: saved: %kept[339968:679936] w", "CHECK-NOT: block.keep",
                              "CHECK: launch block[2] mb=0", "CHECK: launch block[3] mb=0",
                              "CHECK: launch block.bwd[3] mb=0", "CHECK: launch block.bwd[2] mb=0",
                              "CHECK: launch block.kept.bwd[1] mb=0", "CHECK-SAME: x: %ckpt[",
                              "CHECK-SAME: saved: %kept[339968:679936] r", "CHECK: launch block.kept.bwd[0] mb=0",
                              "CHECK-SAME: saved: %kept[0:339968] r", "CHECK-NOT: recompute"}),
            "")
      << text;
  // The whole pipeline's schedule with them verifies (every saved byte
  // written before its backward reads it), and its text reads back.
  const ir::Schedule whole = passes::lower_to_schedule(m, o);
  EXPECT_NO_THROW(ir::verify_schedule(whole));
  const std::string dumped = ir::print_schedule(whole);
  EXPECT_EQ(ir::print_schedule(ir::parse_schedule(dumped, "kept.sched")), dumped);
}

// auto keeps as many blocks as the GPU budget holds after everything else;
// a count that does not fit, or kept blocks with recompute segments, is a
// user error naming the fix; with none kept the kept stages' arena plans go.
TEST_F(SchedulePasses, PlanKeptActivationsFillsTheGpuBudget) {
  passes::StreamingOptions o = tiny_options();
  o.checkpoint_every = 1;
  o.keep_activations = 0;
  const passes::StepPlan none = planned(m, o);
  EXPECT_EQ(none.kept_blocks, 0);
  EXPECT_EQ(none.arena_plans.size(), 5u);
  o.keep_activations = -1;
  const int64_t share = planned(m, o).kept_mb_bytes();
  o.gpu_bytes = static_cast<double>(none.gpu_bytes_without_arena() + none.arena_bytes + 3 * share - 1);
  const passes::StepPlan some = planned(m, o);
  EXPECT_EQ(some.kept_blocks, 2);
  EXPECT_EQ(some.arena_plans.size(), 7u);
  EXPECT_NE(some.str().find("activations kept on the GPU: 2 of 4 blocks"), std::string::npos) << some.str();
  o.keep_activations = 3;
  try {
    planned(m, o);
    FAIL() << "--keep-activations 3 did not fit and was accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("--keep-activations 3 needs"), std::string::npos) << e.what();
  }
  o.keep_activations = 5;
  EXPECT_THROW(planned(m, o), UserError);
  o = tiny_options();  // K = 2
  o.keep_activations = -1;
  const passes::StepPlan segments = planned(m, o);
  EXPECT_EQ(segments.kept_blocks, 0);
  EXPECT_EQ(segments.arena_plans.size(), 5u);
  o.keep_activations = 1;
  try {
    planned(m, o);
    FAIL() << "kept blocks with K = 2 were accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("use --checkpoint-every 1"), std::string::npos) << e.what();
  }
}

TEST_F(SchedulePasses, InsertBufferSwapStreamsEveryStoreBindThroughASlot) {
  ir::Schedule s = golden("schedule-passes/tiny.insert_offload.txt");
  EXPECT_TRUE(passes::insert_buffer_swap(plan, s));
  const std::string text = ir::print_schedule(s);
  EXPECT_EQ(testing::check_golden("schedule-passes/tiny.insert_buffer_swap.txt", text), "");
  // K = 2: three slots, prefetch 2. The first loads run ahead of the first bind.
  EXPECT_EQ(file_check(text, {"CHECK: buffer %store", "CHECK-NEXT: buffer %slot0 : gpu weight_slot",
                              "CHECK-NEXT: buffer %slot1", "CHECK-NEXT: buffer %slot2", "CHECK-NEXT: buffer %tokens",
                              "CHECK: h2d      stream_in embed[0] (src: %store[0:131072] r, dst: %slot0[0:131072] w)",
                              "CHECK-NEXT: h2d      stream_in block[0]", "CHECK-NEXT: h2d      stream_in block[1]",
                              "CHECK-NEXT: compute  bind embed[0] (weights: %slot0[", "CHECK-NOT: weights: %store",
                              "CHECK-NOT: record"}),
            "")
      << text;
  // Nothing is left to stream: a second run changes nothing.
  EXPECT_FALSE(passes::insert_buffer_swap(plan, s));
}

TEST_F(SchedulePasses, InsertEventsGivesThePipelinesVerifiedSchedule) {
  ir::Schedule s = golden("schedule-passes/tiny.insert_buffer_swap.txt");
  EXPECT_TRUE(passes::insert_events(s));
  const std::string text = ir::print_schedule(s);
  EXPECT_EQ(text, ir::print_schedule(passes::lower_to_schedule(m, tiny_options())));
  EXPECT_NO_THROW(ir::verify_schedule(s));
  // The embedding's bind waits for its weights to land.
  EXPECT_EQ(file_check(text, {"CHECK: h2d      stream_in embed[0]", "CHECK-NEXT: h2d      record ^e0",
                              "CHECK: compute  wait ^e0", "CHECK-NEXT: compute  bind embed[0]"}),
            "")
      << text;
  // Re-deriving the events of a synchronized schedule changes nothing.
  EXPECT_FALSE(passes::insert_events(s));
  EXPECT_EQ(ir::print_schedule(s), text);
}

TEST_F(SchedulePasses, PlaceResidentTakesLayersOutOfTheStream) {
  passes::StreamingOptions o = tiny_options();
  o.resident = 2;  // the embedding and block 0
  const passes::StepPlan two = planned(m, o);
  ir::Schedule s = golden("schedule-passes/tiny.lower_to_schedule.txt");  // every layer streams
  EXPECT_TRUE(passes::place_resident(two, s));
  const std::string text = ir::print_schedule(s);
  EXPECT_EQ(testing::check_golden("schedule-passes/tiny.place_resident.txt", text), "");
  EXPECT_EQ(
      file_check(text,
                 {"CHECK: buffer %grads : gpu gradient 9755648",
                  "CHECK: buffer %arena",
                  "CHECK-NEXT: buffer %resident : gpu resident 6852608",
                  "CHECK-NEXT: buffer %rgrad : gpu gradient 3426304",
                  "CHECK-NEXT: buffer %norms : host",
                  "CHECK-NEXT: buffer %clip_scale : host batch_data 4",
                  "CHECK: compute  bind embed[0] (weights: %resident[0:131072] r)",
                  "CHECK: compute  bind block[0] (weights: %resident[524288:",
                  "CHECK: bind block[1] (weights: %store[",
                  "CHECK: launch block.bwd[1] mb=0",
                  "CHECK-SAME: grad: %grads[",
                  "CHECK-NEXT: cpu      grad_norm block[1] (grad: %grads[",
                  "CHECK: launch block.bwd[0] mb=0",
                  "CHECK-SAME: grad: %rgrad[262144:3426304] w",
                  "CHECK-NEXT: compute  grad_norm block[0] (grad: %rgrad[262144:3426304] r, norms: %norms[",
                  "CHECK: compute  grad_norm embed[0]",
                  "CHECK-NEXT: cpu      grad_norm (norms: %norms[",
                  "CHECK-SAME: scale: %clip_scale[0:4] w",
                  "CHECK-NEXT: compute  optimizer_step embed[0] (grad: %rgrad[0:262144] r, scale: %clip_scale[0:4] r, "
                  "params: %resident[0:524288] w)",
                  "CHECK-NEXT: compute  optimizer_step block[0]",
                  "CHECK-NEXT: cpu      optimizer_step block[1]"}),
      "")
      << text;
  // The pipeline's schedule with the same plan is what the later passes make of this one.
  passes::insert_recompute(two, s);
  passes::insert_offload(two, s);
  passes::insert_buffer_swap(two, s);
  passes::insert_events(s);
  EXPECT_EQ(ir::print_schedule(s), ir::print_schedule(passes::lower_to_schedule(m, o)));
  // With no resident layer planned it does not fire.
  ir::Schedule streamed = golden("schedule-passes/tiny.lower_to_schedule.txt");
  EXPECT_FALSE(passes::place_resident(plan, streamed));
}

TEST_F(SchedulePasses, InsertBufferSwapLeavesResidentLayersAlone) {
  passes::StreamingOptions o = tiny_options();
  o.resident = -1;  // 80 GB: every layer stays
  const passes::StepPlan resident = planned(m, o);
  std::ostringstream sink;
  ir::Schedule s = passes::lower_to_schedule(m, o, "insert_offload", &sink);
  const std::string before = ir::print_schedule(s);
  EXPECT_FALSE(passes::insert_buffer_swap(resident, s));
  EXPECT_EQ(ir::print_schedule(s), before);
  EXPECT_EQ(file_check(before, {"CHECK-NOT: %store[0:131072] r)", "CHECK-NOT: %grads", "CHECK-NOT: offload",
                                "CHECK: bind embed[0] (weights: %resident["}),
            "");
}

TEST(FileCheck, CatchesAWrongExpectation) {
  const std::string text = "a one\nb two\nc three\n";
  EXPECT_EQ(file_check(text, {"CHECK: one", "CHECK-NEXT: two", "CHECK: three"}), "");
  EXPECT_NE(file_check(text, {"CHECK: one", "CHECK-NEXT: three"}), "");
  EXPECT_NE(file_check(text, {"CHECK: two", "CHECK: one"}), "");
  EXPECT_NE(file_check(text, {"CHECK: one", "CHECK-NOT: two", "CHECK: three"}), "");
  EXPECT_NE(file_check(text, {"CHECK-NOT: three"}), "");
  EXPECT_EQ(file_check(text, {"CHECK: two", "CHECK-NOT: one"}), "");
  EXPECT_EQ(file_check(text, {"CHECK: b", "CHECK-SAME: two", "CHECK-NEXT: c"}), "");
  EXPECT_NE(file_check(text, {"CHECK: b", "CHECK-SAME: three"}), "");
}

}  // namespace
}  // namespace horizon
