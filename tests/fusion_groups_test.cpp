// ir::instruction_groups, the one iterator over fuse_elementwise's groups
// that plan_memory, the CPU stage executor, the CUDA kernels and the cost
// model share: every instruction in exactly one step, a group ends where
// its attribute value changes, and an instruction without one stands alone.
#include <gtest/gtest.h>

#include "ir/fusion_groups.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

ir::Stage stage_with_groups(const std::vector<int>& ids) {
  ir::Stage s;
  s.name = "test";
  for (int id : ids) {
    ir::Instr in;
    if (id >= 0) in.attrs["group"] = static_cast<int64_t>(id);
    s.instrs.push_back(in);
  }
  return s;
}

std::string describe(const std::vector<ir::InstrGroup>& groups) {
  std::string d;
  for (const ir::InstrGroup& g : groups)
    d += (d.empty() ? "" : " ") + std::to_string(g.first) + "-" + std::to_string(g.last) + (g.fused ? "f" : "");
  return d;
}

TEST(FusionGroups, RunsEndWhereTheGroupChanges) {
  EXPECT_EQ(describe(ir::instruction_groups(stage_with_groups({0, 0, 1, 1, -1, 1, 2}))), "0-1f 2-3f 4-4 5-5f 6-6f");
  EXPECT_EQ(describe(ir::instruction_groups(stage_with_groups({-1, -1}))), "0-0 1-1");
  EXPECT_EQ(describe(ir::instruction_groups(stage_with_groups({}))), "");
}

TEST(FusionGroups, EveryInstructionOfALoweredModelIsInExactlyOneStep) {
  const ir::Module m = testing::lowered("tiny-qwen3.json");
  int fused = 0;
  for (const ir::Stage& s : m.stages) {
    int next = 0;
    for (const ir::InstrGroup& g : ir::instruction_groups(s)) {
      EXPECT_EQ(g.first, next) << s.name;
      EXPECT_GE(g.last, g.first);
      for (int k = g.first; k <= g.last; ++k) EXPECT_EQ(s.instrs[k].attrs.count("group") > 0, g.fused);
      fused += g.fused && g.size() > 1;
      next = g.last + 1;
    }
    EXPECT_EQ(next, static_cast<int>(s.instrs.size())) << s.name;
  }
  EXPECT_GT(fused, 0) << "fuse_elementwise made no group to iterate";
}

}  // namespace
}  // namespace horizon
