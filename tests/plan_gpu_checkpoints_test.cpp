// plan_gpu_checkpoints, --host-checkpoints auto: checkpoints go onto the GPU
// when layers stream and the step fits its budget with them there, else
// stay in pinned host memory. The budget is tried a byte either side of
// what the step needs (its buffers, the arena, the executor's reserve and
// the caller's), so a decision that forgot any of them fails here; kept
// activations and resident layers come first; on and off ignore it all.
// The lowered schedules show the outcome: a GPU %ckpt filled by device
// copies, or a host %ckpt filled by D2H saves.
#include <gtest/gtest.h>

#include <string>

#include "ir/schedule.h"
#include "passes/plan_gpu_checkpoints.h"
#include "passes/schedule_pipeline.h"
#include "passes/step_plan.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

constexpr double kCallerReserve = 3 << 20, kExecutorMargin = 1 << 20;

passes::StreamingOptions options(double gpu_bytes, int host_checkpoints = -1) {
  passes::StreamingOptions o;
  o.batch = 4;
  o.seq = 32;
  o.micro_batches = 2;
  o.resident = 0;
  o.keep_activations = 0;
  o.host_checkpoints = host_checkpoints;
  o.gpu_bytes = gpu_bytes;
  o.gpu_reserve_bytes = kCallerReserve;  // e.g. the 8-bit moment scales of resident layers
  o.executor.margin_bytes = kExecutorMargin;
  return o;
}

struct Lowered {
  ir::Schedule s;
  passes::StepPlan plan;
};

Lowered lower(const ir::Module& m, const passes::StreamingOptions& o) {
  Lowered l;
  l.s = passes::lower_to_schedule(m, o, passes::PassOptions{}, &l.plan);
  return l;
}

class PlanGpuCheckpoints : public ::testing::Test {
 protected:
  const ir::Module m = testing::lowered("tiny.json");
  // What the step needs on the GPU with its checkpoints there, counted
  // without the pass: the GPU buffers of the schedule lowered with
  // --host-checkpoints off, plus the reserves.
  const double need =
      static_cast<double>(lower(m, options(1e15, 0)).s.bytes(ir::Place::gpu)) + kCallerReserve + kExecutorMargin;
};

TEST_F(PlanGpuCheckpoints, PutsThemOnTheGpuWhenLayersStreamAndTheStepFitsWithThem) {
  const Lowered l = lower(m, options(need));
  EXPECT_FALSE(l.plan.host_checkpoints);
  EXPECT_NE(l.plan.checkpoint_place_why.find("they fit"), std::string::npos) << l.plan.checkpoint_place_why;
  EXPECT_NE(l.plan.str().find("// checkpoints' place (auto): layers stream, and with the 8 checkpoints"),
            std::string::npos)
      << l.plan.str();
  EXPECT_FALSE(l.s.config.host_checkpoints);
  const int ckpt = l.s.find_buffer("ckpt");
  ASSERT_GE(ckpt, 0);
  EXPECT_EQ(l.s.buffers[static_cast<size_t>(ckpt)].place, ir::Place::gpu);
  for (const ir::SchedInstr& in : l.s.instrs)
    if (in.op == ir::SchedOp::save || in.op == ir::SchedOp::restore) {
      EXPECT_EQ(in.stream, ir::Stream::compute) << ir::print_instr(l.s, in);  // a device copy, not PCIe
    }
  EXPECT_EQ(static_cast<double>(l.s.bytes(ir::Place::gpu)) + kCallerReserve + kExecutorMargin, need);
  // The pass itself says it moved them, and a second run moves nothing.
  passes::StepPlan again = l.plan;
  again.host_checkpoints = true;
  EXPECT_TRUE(passes::plan_gpu_checkpoints(again));
  EXPECT_FALSE(passes::plan_gpu_checkpoints(again));
}

TEST_F(PlanGpuCheckpoints, LeavesThemInPinnedHostMemoryWhenTheyWouldNotFit) {
  const Lowered l = lower(m, options(need - 1));
  EXPECT_TRUE(l.plan.host_checkpoints);
  EXPECT_NE(l.plan.checkpoint_place_why.find("more than the budget"), std::string::npos) << l.plan.checkpoint_place_why;
  const int ckpt = l.s.find_buffer("ckpt");
  ASSERT_GE(ckpt, 0);
  EXPECT_EQ(l.s.buffers[static_cast<size_t>(ckpt)].place, ir::Place::host);
  int saves_over_pcie = 0;
  for (const ir::SchedInstr& in : l.s.instrs)
    saves_over_pcie += in.op == ir::SchedOp::save && in.stream == ir::Stream::d2h;
  EXPECT_EQ(saves_over_pcie, 8);  // 4 blocks x 2 micro-batches
}

// At the smallest budget (in 16 KiB steps) where a block keeps its
// activations, the checkpoints, which would need 256 KiB more on the GPU
// than on the host, stay on the host; with the checkpoints' bytes more,
// both fit.
TEST_F(PlanGpuCheckpoints, KeptActivationsComeFirst) {
  passes::StreamingOptions o = options(need);
  o.keep_activations = -1;
  Lowered l = lower(m, o);
  while (l.plan.kept_blocks == 0 && o.gpu_bytes < 2 * need) {
    o.gpu_bytes += 16 << 10;
    l = lower(m, o);
  }
  ASSERT_GT(l.plan.kept_blocks, 0);
  EXPECT_TRUE(l.plan.host_checkpoints) << l.plan.checkpoint_place_why;
  const int64_t kept = l.plan.kept_blocks;
  o.gpu_bytes += 256 << 10;
  l = lower(m, o);
  EXPECT_EQ(l.plan.kept_blocks, kept);
  EXPECT_FALSE(l.plan.host_checkpoints) << l.plan.checkpoint_place_why;
}

TEST_F(PlanGpuCheckpoints, WithEveryLayerResidentTheyStayOnTheHost) {
  passes::StreamingOptions o = options(1e15);
  o.resident = -1;
  const Lowered l = lower(m, o);
  EXPECT_EQ(l.plan.resident_regions(), static_cast<int64_t>(l.plan.params.regions.size()));
  EXPECT_TRUE(l.plan.host_checkpoints);
  EXPECT_NE(l.plan.checkpoint_place_why.find("every layer is resident, so the checkpoints' copies have the link"),
            std::string::npos)
      << l.plan.checkpoint_place_why;
}

TEST_F(PlanGpuCheckpoints, OnAndOffAreTheUsersAndGiveNoReason) {
  const Lowered on = lower(m, options(1e15, 1));
  EXPECT_TRUE(on.plan.host_checkpoints);
  EXPECT_EQ(on.plan.checkpoint_place_why, "");
  const Lowered off = lower(m, options(need, 0));
  EXPECT_FALSE(off.plan.host_checkpoints);
  EXPECT_EQ(off.plan.checkpoint_place_why, "");
  passes::StepPlan again = on.plan;
  EXPECT_FALSE(passes::plan_gpu_checkpoints(again));
  EXPECT_TRUE(again.host_checkpoints);
}

TEST(PlanCommand, SaysWhereAutoPutTheCheckpointsAndWhy) {
  const std::string tiny = "plan " + testing::source_path("models/tiny.json") + " --batch 2 --seq 16";
  auto r = testing::run_horizon(tiny);  // 80 GB: every layer resident
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("checkpoints on the host (--host-checkpoints auto): every layer is resident"), std::string::npos)
      << r.out;
  r = testing::run_horizon(tiny + " --resident 0");
  EXPECT_NE(r.out.find("checkpoints on the GPU (--host-checkpoints auto): layers stream, and with the 4 checkpoints"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("checkpoint every 1 block(s) on the GPU"), std::string::npos) << r.out;
  r = testing::run_horizon(tiny + " --host-checkpoints on");
  EXPECT_EQ(r.out.find("(--host-checkpoints auto)"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace horizon
