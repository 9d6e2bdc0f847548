// What the executor of a schedule allocates on the GPU beyond the schedule's
// own buffers — kernel scratch, GEMM library workspaces, the context's
// allocations — so that plan_resident leaves it free. The planner owns the
// question; a backend answers it through ExecutorReserve::stage_scratch
// (the CUDA backend: runtime/cuda/stage_scratch.h), computed on the host
// from the arena plans, so the schedule pipeline runs once and the
// compiler does not depend on any backend.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "ir/module.h"
#include "ir/schedule.h"

namespace horizon::passes {

struct StepPlan;

struct ExecutorReserve {
  /// Bytes the executor allocates for the launches of the stages planned in
  /// `arenas` at `mb_batch` sequences of `seq` tokens. Empty: none (the
  /// CPU, the tests' emulated device). A backend that cannot run the model
  /// throws a UserError naming the model key and the fix.
  std::function<int64_t(const ir::Module& graph, const std::vector<ir::ArenaPlan>& arenas, int64_t mb_batch,
                        int64_t seq)>
      stage_scratch;
  /// Kept free beyond the stage scratch: the context's own allocations and fragmentation.
  double margin_bytes = 0;
  /// The run also evaluates: what the evaluator allocates next to the
  /// executor (a weight buffer, two activations, an arena and its scratch).
  bool evaluation = false;
};

/// GPU bytes that `plan`'s executor needs beyond its buffers; needs
/// plan_memory. The backend is asked once per plan (plan_offload and
/// plan_resident both need it); the answer is kept in the plan.
double executor_reserve_bytes(StepPlan& plan);

}  // namespace horizon::passes
