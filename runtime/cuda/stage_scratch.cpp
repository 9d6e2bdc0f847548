#include "runtime/cuda/stage_scratch.h"

#include <set>
#include <stdexcept>
#include <string>
#include <utility>

#include "codegen/cuda/cuda_limits.h"
#include "runtime/cuda/gemm.h"
#include "runtime/cuda/stage_program.h"
#include "support/error.h"

namespace horizon::runtime::cuda {
namespace {

int64_t stage_scratch(const ir::Module& graph, const ir::Stage& stage, const ir::ArenaPlan& arena, int64_t mb_batch,
                      int64_t seq) {
  try {
    const StageProgram program = build_stage_program(stage, arena, mb_batch, seq);
    return program.scratch_bytes + (program.gemm_shapes.empty() ? 0 : CublasLtGemm::kDefaultWorkspaceBytes);
  } catch (const std::invalid_argument& e) {
    // A limit check_cuda_limits does not know yet: still the model's, not a bug.
    throw UserError("model " + graph.name + ": the CUDA backend cannot run it (" + e.what() + "); use --device cpu");
  }
}

}  // namespace

int64_t planned_stage_scratch(const ir::Schedule& schedule, const ir::Module& graph) {
  codegen::cuda::check_cuda_limits(graph);
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
    bytes += stage_scratch(graph, *stage, *arena, mb_batch, schedule.config.seq);
  }
  return bytes;
}

int64_t planned_stage_scratch(const ir::Module& graph, const std::vector<ir::ArenaPlan>& arenas, int64_t mb_batch,
                              int64_t seq) {
  codegen::cuda::check_cuda_limits(graph);
  int64_t bytes = 0;
  for (const ir::ArenaPlan& arena : arenas)
    if (const ir::Stage* stage = graph.find_stage(arena.stage))
      bytes += stage_scratch(graph, *stage, arena, mb_batch, seq);
  return bytes;
}

}  // namespace horizon::runtime::cuda
