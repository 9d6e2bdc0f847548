// Fused elementwise groups for the CPU JIT: every node of the program is
// evaluated in registers, one vector of W columns at a time, and only the
// outputs touch memory. Row-broadcast inputs (bias_add's bias) are indexed by
// column alone; without them the [rows, cols] tensors are contiguous and the
// function runs them as one long row, so short rows still fill vectors.
#include "codegen/cpu/emit_elementwise.h"

#include <llvm/IR/Function.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>

#include <stdexcept>

#include "codegen/cpu/vector_loop.h"
#include "codegen/cpu/vector_math.h"

namespace horizon::codegen::cpu {
namespace {

bool is_supported(ir::Op op) {
  switch (op) {
    case ir::Op::add:
    case ir::Op::mul:
    case ir::Op::bias_add:
    case ir::Op::silu:
    case ir::Op::gelu:
    case ir::Op::silu_grad:
    case ir::Op::gelu_grad:
      return true;
    default:
      return false;
  }
}

bool is_valid_op(ir::Op op) { return static_cast<int>(op) >= 0 && static_cast<int>(op) < ir::kNumOps; }

std::string op_label(ir::Op op) {
  return is_valid_op(op) ? ir::op_name(op) : "op#" + std::to_string(static_cast<int>(op));
}

std::string node_place(size_t index, ir::Op op) {
  return "elementwise program node " + std::to_string(index) + " (" + op_label(op) + ")";
}

llvm::Value* emit_node(llvm::IRBuilderBase& b, ir::Op op, const std::vector<llvm::Value*>& args) {
  switch (op) {
    case ir::Op::add:
    case ir::Op::bias_add:
      return b.CreateFAdd(args[0], args[1]);
    case ir::Op::mul:
      return b.CreateFMul(args[0], args[1]);
    case ir::Op::silu:
      return emit_silu(b, args[0]);
    case ir::Op::gelu:
      return emit_gelu(b, args[0]);
    case ir::Op::silu_grad:
      return emit_silu_grad(b, args[0], args[1]);
    case ir::Op::gelu_grad:
      return emit_gelu_grad(b, args[0], args[1]);
    default:
      throw std::logic_error("emit_node: " + op_label(op) + " passed validation but has no emitter");
  }
}

}  // namespace

std::string ElementwiseProgram::key() const {
  std::string k = "in(";
  for (size_t i = 0; i < inputs.size(); ++i) k += std::string(i ? "," : "") + (inputs[i].row_broadcast ? "r" : "x");
  k += ")";
  for (const Node& n : nodes) {
    k += " " + op_label(n.op) + "(";
    for (size_t i = 0; i < n.operands.size(); ++i) k += (i ? "," : "") + std::to_string(n.operands[i]);
    k += ")";
  }
  k += " out(";
  for (size_t i = 0; i < outputs.size(); ++i) k += (i ? "," : "") + std::to_string(outputs[i]);
  return k + ")";
}

void validate_elementwise_program(const ElementwiseProgram& p) {
  const int num_inputs = static_cast<int>(p.inputs.size());
  for (size_t i = 0; i < p.nodes.size(); ++i) {
    const ElementwiseProgram::Node& n = p.nodes[i];
    if (!is_valid_op(n.op) || !is_supported(n.op))
      throw std::invalid_argument(node_place(i, n.op) +
                                  ": not an op the CPU JIT fuses; supported: add, mul, bias_add, silu, gelu, "
                                  "silu_grad, gelu_grad (run other ops as separate kernels)");
    if (static_cast<int>(n.operands.size()) != ir::op_operands(n.op))
      throw std::invalid_argument(node_place(i, n.op) + ": has " + std::to_string(n.operands.size()) +
                                  " operands, the op takes " + std::to_string(ir::op_operands(n.op)));
    const int defined = num_inputs + static_cast<int>(i);  // inputs, then the nodes before this one
    for (int operand : n.operands)
      if (operand < 0 || operand >= defined)
        throw std::invalid_argument(node_place(i, n.op) + ": operand " + std::to_string(operand) +
                                    " is not defined before it (valid: 0.." + std::to_string(defined - 1) +
                                    "; inputs first, then earlier nodes)");
    if (n.op == ir::Op::bias_add && (n.operands[1] >= num_inputs || !p.inputs[n.operands[1]].row_broadcast))
      throw std::invalid_argument(node_place(i, n.op) +
                                  ": operand 1 must be an input marked row_broadcast (the [cols] bias); use add "
                                  "for two [rows, cols] tensors");
  }
  if (p.outputs.empty())
    throw std::invalid_argument("elementwise program: no outputs; list the node indices to write in `outputs`");
  for (int out : p.outputs)
    if (out < 0 || out >= static_cast<int>(p.nodes.size()))
      throw std::invalid_argument("elementwise program: output " + std::to_string(out) + " is not a node index (0.." +
                                  std::to_string(static_cast<int>(p.nodes.size()) - 1) + ")");
}

void emit_elementwise_function(llvm::Module& module, const ElementwiseProgram& p, int width, const std::string& name) {
  llvm::LLVMContext& ctx = module.getContext();
  llvm::IRBuilder<> b(ctx);
  llvm::Type* f32 = b.getFloatTy();
  llvm::Type* ptr = b.getPtrTy();
  auto* fn_type = llvm::FunctionType::get(b.getVoidTy(), {b.getInt64Ty(), b.getInt64Ty(), ptr, ptr}, false);
  auto* fn = llvm::Function::Create(fn_type, llvm::Function::ExternalLinkage, name, module);
  llvm::Value* rows = fn->getArg(0);
  llvm::Value* cols = fn->getArg(1);
  llvm::Value* ins = fn->getArg(2);
  llvm::Value* outs = fn->getArg(3);
  rows->setName("rows");
  cols->setName("cols");
  ins->setName("ins");
  outs->setName("outs");
  b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", fn));

  // Nothing to do for an empty tensor; this also keeps rows * cols below from
  // turning two negative sizes into a positive count.
  llvm::BasicBlock* body_bb = llvm::BasicBlock::Create(ctx, "body", fn);
  llvm::BasicBlock* done_bb = llvm::BasicBlock::Create(ctx, "done", fn);
  b.CreateCondBr(b.CreateOr(b.CreateICmpSLE(rows, b.getInt64(0)), b.CreateICmpSLE(cols, b.getInt64(0))), done_bb,
                 body_bb);
  b.SetInsertPoint(body_bb);

  std::vector<llvm::Value*> in_base, out_base;
  bool any_broadcast = false;
  for (size_t k = 0; k < p.inputs.size(); ++k) {
    in_base.push_back(b.CreateAlignedLoad(ptr, b.CreateConstInBoundsGEP1_64(ptr, ins, k), llvm::Align(8)));
    any_broadcast |= p.inputs[k].row_broadcast;
  }
  for (size_t k = 0; k < p.outputs.size(); ++k)
    out_base.push_back(b.CreateAlignedLoad(ptr, b.CreateConstInBoundsGEP1_64(ptr, outs, k), llvm::Align(8)));

  llvm::Value* row_count = rows;
  llvm::Value* row_length = cols;
  if (!any_broadcast) {
    row_length = b.CreateMul(rows, cols, "n", /*HasNUW=*/false, /*HasNSW=*/true);
    row_count = b.getInt64(1);
  }

  emit_loop(b, b.getInt64(0), row_count, 1, LoopHint::none, [&](llvm::Value* r) {
    llvm::Value* row_offset = b.CreateMul(r, row_length, "row.offset", /*HasNUW=*/false, /*HasNSW=*/true);
    std::vector<llvm::Value*> in_row, out_row;
    for (size_t k = 0; k < p.inputs.size(); ++k)
      in_row.push_back(p.inputs[k].row_broadcast ? in_base[k] : b.CreateInBoundsGEP(f32, in_base[k], row_offset));
    for (llvm::Value* base : out_base) out_row.push_back(b.CreateInBoundsGEP(f32, base, row_offset));

    emit_vector_loop_with_tail(b, row_length, width, [&](llvm::Value* j, int lanes) {
      // SSA values: inputs first, then nodes, matching the program's operand numbering.
      std::vector<llvm::Value*> values;
      for (llvm::Value* base : in_row) values.push_back(load_lanes(b, f32, base, j, lanes));
      for (const ElementwiseProgram::Node& n : p.nodes) {
        std::vector<llvm::Value*> args;
        for (int operand : n.operands) args.push_back(values[operand]);
        values.push_back(emit_node(b, n.op, args));
      }
      for (size_t k = 0; k < p.outputs.size(); ++k)
        store_lanes(b, f32, values[p.inputs.size() + p.outputs[k]], out_row[k], j);
    });
  });
  b.CreateBr(done_bb);
  b.SetInsertPoint(done_bb);
  b.CreateRetVoid();
}

}  // namespace horizon::codegen::cpu
