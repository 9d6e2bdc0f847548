#include "runtime/cuda/value_homes.h"

#include <stdexcept>
#include <string>

namespace horizon::runtime::cuda {

int64_t value_bytes(const ir::Stage& stage, int value, int64_t batch, int64_t seq) {
  const ir::TensorType& t = stage.values[value].type;
  return t.elements(batch, seq) * ir::dtype_size(t.dtype);
}

std::vector<ValueHome> value_homes(const ir::Stage& s, const ir::ArenaPlan& plan, int64_t batch, int64_t seq) {
  auto fail = [&](int v, const std::string& why) {
    return std::invalid_argument("CUDA stage executor: stage " + s.name + ", value %" + s.values[v].name + ": " + why);
  };
  if (plan.offsets.size() != s.values.size() || (!plan.stage.empty() && plan.stage != s.name))
    throw std::invalid_argument("CUDA stage executor: the arena plan of stage '" + plan.stage + "' (" +
                                std::to_string(plan.offsets.size()) + " values) does not belong to stage " + s.name +
                                " (" + std::to_string(s.values.size()) + " values)");
  if (plan.sizes.size() != plan.offsets.size())
    throw std::invalid_argument("CUDA stage executor: the arena plan of stage " + s.name +
                                " has offsets and sizes of different lengths");
  std::vector<ValueHome> home(s.values.size());
  std::vector<bool> produced(s.values.size(), false), read(s.values.size(), false);
  for (const ir::Instr& in : s.instrs) {
    for (int v : in.results) produced[v] = true;
    for (int v : in.operands) read[v] = true;
  }
  auto bind = [&](int v, ValueHome::Kind kind, int index) {
    if (home[v].kind != ValueHome::Kind::none) throw fail(v, "bound twice (as a stage input, output or gradient)");
    home[v] = {kind, index, 0};
  };
  for (size_t i = 0; i < s.inputs.size(); ++i) bind(s.inputs[i], ValueHome::Kind::input, static_cast<int>(i));
  for (size_t p = 0; p < s.params.size(); ++p) bind(s.params[p].value, ValueHome::Kind::param, static_cast<int>(p));
  for (size_t o = 0; o < s.outputs.size(); ++o) {
    if (!produced[s.outputs[o]]) throw fail(s.outputs[o], "a stage output that no instruction computes");
    bind(s.outputs[o], ValueHome::Kind::output, static_cast<int>(o));
  }
  for (size_t g = 0; g < s.grads.size(); ++g) {
    if (!produced[s.grads[g].value]) throw fail(s.grads[g].value, "a gradient that no instruction computes");
    bind(s.grads[g].value, ValueHome::Kind::grad, static_cast<int>(g));
  }
  for (size_t v = 0; v < s.values.size(); ++v) {
    if (home[v].kind != ValueHome::Kind::none || !produced[v]) continue;
    if (plan.offsets[v] >= 0) {
      const int64_t need = value_bytes(s, static_cast<int>(v), batch, seq);
      if (plan.sizes[v] < need)
        throw fail(static_cast<int>(v), "the arena plan gives it " + std::to_string(plan.sizes[v]) +
                                            " bytes, it needs " + std::to_string(need) + " at batch " +
                                            std::to_string(batch) + ", seq " + std::to_string(seq));
      home[v] = {ValueHome::Kind::arena, -1, plan.offsets[v]};
    } else if (!read[v])
      home[v] = {ValueHome::Kind::sink, -1, 0};
    // Otherwise it never leaves its fused group, or the plan misses it: the
    // program builder throws if a kernel or GEMM binds it.
  }
  return home;
}

}  // namespace horizon::runtime::cuda
