// The float64 reference interpreter: runs one stage of the graph IR op by op,
// unfused, with every op taken from reference_ops (written from the math, not
// from the kernels). It is the ground truth the fp32 CPU backend, the fused
// JIT groups and the CUDA kernels are compared against, value by value.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "ir/module.h"
#include "runtime/reference/ref_tensor.h"

namespace horizon::reference {

class ReferenceInterpreter {
 public:
  /// `batch` and `seq` substitute the symbolic B and S of the stage's types.
  ReferenceInterpreter(ir::Stage stage, int64_t batch, int64_t seq);

  /// Evaluates every instruction in order. `inputs` maps the value index of
  /// each stage input, `params` that of each parameter, to its tensor (double
  /// data, or ints for i32 values); shapes must match the stage's types.
  /// Returns every value of the stage, indexed like Stage::values (inputs and
  /// parameters copied through, the loss as a scalar, backward results too).
  /// Throws std::invalid_argument naming the stage and value on a missing or
  /// mis-shaped tensor, or a result whose shape disagrees with the IR.
  std::vector<RefTensor> run(const std::map<int, RefTensor>& inputs, const std::map<int, RefTensor>& params) const;

  /// Shape of value `index` with B and S substituted.
  std::vector<int64_t> shape_of(int index) const;

  const ir::Stage& stage() const { return stage_; }

 private:
  ir::Stage stage_;
  int64_t batch_, seq_;
};

}  // namespace horizon::reference
