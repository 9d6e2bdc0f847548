// Where each value of a stage lives while the CUDA executor runs it: stage
// inputs, parameters, outputs and gradients in the caller's buffers (the
// launch's DeviceStageBindings), every other result at the offset
// passes/plan_memory gave it in the arena. A result that nothing reads and
// the plan left out (the last value of a fused group whose results are all
// dead, which the kernel still writes) goes to the executor's sink. A value
// read only inside its fused group needs no home; any other value without one
// is a planner bug, reported when the executor is built.
#pragma once

#include <cstdint>
#include <vector>

#include "ir/module.h"
#include "ir/schedule.h"

namespace horizon::runtime::cuda {

struct ValueHome {
  enum class Kind { none, input, param, output, grad, arena, sink };
  Kind kind = Kind::none;
  int index = -1;      // input, param, output, grad: position in the bindings
  int64_t offset = 0;  // arena: byte offset
};

/// The home of every value of `stage` (indexed like Stage::values). Throws
/// std::invalid_argument naming the stage and the value when `plan` does not
/// belong to the stage, a value is bound twice (a stage output that is also
/// a gradient), an output or gradient is not computed by the stage, or a
/// transient has fewer bytes than it needs at `batch` x `seq` (a plan made
/// for another shape). Results read without an arena offset are left
/// Kind::none (fused-group internals need none).
std::vector<ValueHome> value_homes(const ir::Stage& stage, const ir::ArenaPlan& plan, int64_t batch, int64_t seq);

/// Bytes of fp32 `value` at `batch` x `seq`.
int64_t value_bytes(const ir::Stage& stage, int value, int64_t batch, int64_t seq);

}  // namespace horizon::runtime::cuda
