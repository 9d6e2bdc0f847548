#include "ir/document_inputs.h"

#include <algorithm>

#include "ir/ops.h"

namespace horizon::ir {

bool remove_document_inputs(Stage& s) {
  const int positions = s.find_value("positions"), segments = s.find_value("segments");
  if (positions < 0 && segments < 0) return false;
  for (Instr& in : s.instrs) {
    const bool optional_last = static_cast<int>(in.operands.size()) == op_operands(in.op);
    if (optional_last && !in.operands.empty() && (in.operands.back() == positions || in.operands.back() == segments))
      in.operands.pop_back();
  }
  std::erase_if(s.inputs, [&](int v) { return v == positions || v == segments; });
  // As results no instruction defines, drop_undefined_results removes them and renumbers the rest.
  for (int v : {positions, segments})
    if (v >= 0) s.values[static_cast<size_t>(v)].kind = ValueKind::result;
  s.drop_undefined_results();
  return true;
}

}  // namespace horizon::ir
