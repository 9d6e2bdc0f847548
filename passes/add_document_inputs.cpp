#include "passes/add_document_inputs.h"

#include "support/error.h"

namespace horizon::passes {

bool add_document_inputs(ir::Module& m) {
  for (const ir::Stage& s : m.stages) {
    if (s.name.find(".bwd") != std::string::npos)
      throw UserError("add_document_inputs runs before autodiff; stage " + s.name + " already exists");
    for (const ir::Instr& in : s.instrs)
      if (in.op == ir::Op::add_positions)
        throw UserError("stage " + s.name +
                        ": learned positions (add_positions) do not take the positions of packed documents; "
                        "train this model on whole rows (no packing)");
  }
  ir::Stage* block = m.find_stage("block");
  if (!block) throw UserError("add_document_inputs: the module has no stage 'block'");
  if (block->find_value("positions") >= 0 || block->find_value("segments") >= 0) return false;
  const ir::TensorType channel{ir::DType::i32, {ir::Dim::batch(), ir::Dim::seq()}};
  const int positions = block->add_value("positions", channel, ir::ValueKind::input);
  const int segments = block->add_value("segments", channel, ir::ValueKind::input);
  block->inputs.push_back(positions);
  block->inputs.push_back(segments);
  for (ir::Instr& in : block->instrs) {
    if (static_cast<int>(in.operands.size()) == ir::op_operands(in.op)) continue;  // already complete
    if (in.op == ir::Op::rope) in.operands.push_back(positions);
    if (in.op == ir::Op::attention) in.operands.push_back(segments);
  }
  return true;
}

}  // namespace horizon::passes
