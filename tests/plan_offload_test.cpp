// plan_offload's --host-checkpoints auto: checkpoints stay on the GPU when
// the step fits its budget with them there, and go to pinned host memory
// otherwise. The budget is tried a byte either side of what the step needs
// (the buffers, the arena, the executor's reserve and the caller's), so a
// decision that forgot any of them fails here; on and off ignore the
// budget. The lowered schedules show the outcome: a %ckpt on the GPU and
// no checkpoint copies over PCIe, or a host %ckpt filled by D2H saves.
#include <gtest/gtest.h>

#include <string>

#include "ir/schedule.h"
#include "passes/plan_memory.h"
#include "passes/plan_offload.h"
#include "passes/plan_recompute.h"
#include "passes/schedule_pipeline.h"
#include "passes/step_plan.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

passes::StreamingOptions options(double gpu_bytes, int host_checkpoints = -1) {
  passes::StreamingOptions o;
  o.batch = 4;
  o.seq = 32;
  o.micro_batches = 2;
  o.resident = 0;
  o.host_checkpoints = host_checkpoints;
  o.gpu_bytes = gpu_bytes;
  o.gpu_reserve_bytes = 3 << 20;  // a caller's reserve (the 8-bit moment scales of resident layers)
  o.executor.margin_bytes = 1 << 20;
  return o;
}

// The plan up to and including plan_offload.
passes::StepPlan offload_planned(const ir::Module& m, const passes::StreamingOptions& o, bool* changed = nullptr) {
  passes::StepPlan p = passes::make_step_plan(m, o);
  passes::plan_memory(p);
  passes::plan_recompute(p);
  const bool c = passes::plan_offload(p);
  if (changed) *changed = c;
  return p;
}

// What the step needs on the GPU with its checkpoints there, counted
// independently of plan_offload: every GPU buffer of the schedule lowered
// with --host-checkpoints off (no layer resident), plus the reserves.
double gpu_need_with_gpu_checkpoints(const ir::Module& m) {
  passes::StreamingOptions o = options(1e15, 0);
  const ir::Schedule s = passes::lower_to_schedule(m, o);
  return static_cast<double>(s.bytes(ir::Place::gpu)) + o.gpu_reserve_bytes + o.executor.margin_bytes;
}

class PlanOffloadAuto : public ::testing::Test {
 protected:
  const ir::Module m = testing::lowered("tiny.json");
  const double need = gpu_need_with_gpu_checkpoints(m);
};

TEST_F(PlanOffloadAuto, KeepsCheckpointsOnTheGpuWhenTheStepFitsWithThem) {
  bool changed = false;
  const passes::StepPlan p = offload_planned(m, options(need, -1), &changed);
  EXPECT_FALSE(p.host_checkpoints);
  EXPECT_TRUE(changed);  // the plan starts with host checkpoints
  EXPECT_NE(p.checkpoint_place_why.find("they fit"), std::string::npos) << p.checkpoint_place_why;
  EXPECT_NE(p.str().find("// checkpoints' place (auto): with its 8 checkpoints"), std::string::npos) << p.str();

  const ir::Schedule s = passes::lower_to_schedule(m, options(need, -1));
  EXPECT_FALSE(s.config.host_checkpoints);
  const int ckpt = s.find_buffer("ckpt");
  ASSERT_GE(ckpt, 0);
  EXPECT_EQ(s.buffers[static_cast<size_t>(ckpt)].place, ir::Place::gpu);
  for (const ir::SchedInstr& in : s.instrs)
    if (in.op == ir::SchedOp::save || in.op == ir::SchedOp::restore) {
      EXPECT_EQ(in.stream, ir::Stream::compute) << ir::print_instr(s, in);  // a device copy, not PCIe
    }
  EXPECT_EQ(static_cast<double>(s.bytes(ir::Place::gpu)) + 4 * (1 << 20), need);
}

TEST_F(PlanOffloadAuto, MovesThemToPinnedHostMemoryWhenTheyWouldNotFit) {
  const passes::StepPlan p = offload_planned(m, options(need - 1, -1));
  EXPECT_TRUE(p.host_checkpoints);
  EXPECT_NE(p.checkpoint_place_why.find("more than the budget"), std::string::npos) << p.checkpoint_place_why;

  const ir::Schedule s = passes::lower_to_schedule(m, options(need - 1, -1));
  EXPECT_TRUE(s.config.host_checkpoints);
  const int ckpt = s.find_buffer("ckpt");
  ASSERT_GE(ckpt, 0);
  EXPECT_EQ(s.buffers[static_cast<size_t>(ckpt)].place, ir::Place::host);
  int saves_over_pcie = 0;
  for (const ir::SchedInstr& in : s.instrs)
    saves_over_pcie += in.op == ir::SchedOp::save && in.stream == ir::Stream::d2h;
  EXPECT_EQ(saves_over_pcie, 8);  // 4 blocks x 2 micro-batches
  EXPECT_LT(static_cast<double>(s.bytes(ir::Place::gpu)), need);
}

TEST_F(PlanOffloadAuto, OnAndOffIgnoreTheBudgetAndGiveNoReason) {
  const passes::StepPlan on = offload_planned(m, options(1e15, 1));
  EXPECT_TRUE(on.host_checkpoints);
  EXPECT_EQ(on.checkpoint_place_why, "");
  const passes::StepPlan off = offload_planned(m, options(need - 1, 0));
  EXPECT_FALSE(off.host_checkpoints);
  EXPECT_EQ(off.checkpoint_place_why, "");
  passes::StepPlan again = on;
  EXPECT_FALSE(passes::plan_offload(again));  // a second run decides the same
}

TEST(PlanCommand, SaysWhereAutoPutTheCheckpointsAndWhy) {
  auto r = testing::run_horizon("plan " + testing::source_path("models/tiny.json") + " --batch 2 --seq 16");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("checkpoints on the GPU (--host-checkpoints auto): with its 4 checkpoints"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("they fit, and cost no copies over PCIe"), std::string::npos) << r.out;
  r = testing::run_horizon("plan " + testing::source_path("models/tiny.json") + " --batch 2 --seq 16 --gpu-mem 1G");
  EXPECT_NE(r.out.find("checkpoints on the host (--host-checkpoints auto)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("more than the budget, so pinned host memory"), std::string::npos) << r.out;
  r = testing::run_horizon("plan " + testing::source_path("models/tiny.json") +
                           " --batch 2 --seq 16 --host-checkpoints on");
  EXPECT_EQ(r.out.find("(--host-checkpoints auto)"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace horizon
