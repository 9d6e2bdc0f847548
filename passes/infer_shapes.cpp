#include "passes/infer_shapes.h"

#include "ir/shape_rules.h"
#include "support/error.h"

namespace horizon::passes {

bool infer_shapes(ir::Module& m) {
  bool changed = false;
  for (ir::Stage& s : m.stages) {
    for (size_t i = 0; i < s.instrs.size(); ++i) {
      const ir::Instr& in = s.instrs[i];
      std::vector<ir::TensorType> operands;
      for (int v : in.operands) operands.push_back(s.values[v].type);
      std::vector<ir::TensorType> results;
      try {
        results = ir::infer_result_types(in.op, operands, in.attrs);
      } catch (const ir::ShapeError& e) {
        throw_user_error("", "stage " + s.name + ": instruction " + std::to_string(i), e.what());
      }
      for (size_t r = 0; r < results.size() && r < in.results.size(); ++r) {
        ir::TensorType& t = s.values[in.results[r]].type;
        if (!(t == results[r])) {
          t = results[r];
          changed = true;
        }
      }
    }
  }
  return changed;
}

}  // namespace horizon::passes
