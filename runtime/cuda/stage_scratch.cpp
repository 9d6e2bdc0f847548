#include "runtime/cuda/stage_scratch.h"

#include <set>
#include <string>
#include <utility>

#include "runtime/cuda/gemm.h"
#include "runtime/cuda/stage_program.h"

namespace horizon::runtime::cuda {

int64_t planned_stage_scratch(const ir::Schedule& schedule, const ir::Module& graph) {
  const int64_t mb_batch = schedule.config.batch / schedule.config.micro_batches;
  std::set<std::pair<std::string, int>> executors;  // as CudaScheduleExecutor keys them
  int64_t bytes = 0;
  for (const ir::SchedInstr& in : schedule.instrs) {
    if (in.op != ir::SchedOp::launch && in.op != ir::SchedOp::recompute) continue;
    if (!executors.insert({in.stage, static_cast<int>(in.stream)}).second) continue;
    const ir::Stage* stage = graph.find_stage(in.stage);
    const ir::ArenaPlan* arena = nullptr;
    for (const ir::ArenaPlan& a : schedule.arena_plans)
      if (a.stage == in.stage) arena = &a;
    if (!stage || !arena) continue;  // the executor refuses such a schedule with the reason
    const StageProgram program = build_stage_program(*stage, *arena, mb_batch, schedule.config.seq);
    bytes += program.scratch_bytes + (program.gemm_shapes.empty() ? 0 : CublasLtGemm::kDefaultWorkspaceBytes);
  }
  return bytes;
}

}  // namespace horizon::runtime::cuda
