// Loop emission for the CPU JIT: explicit vector main loops with scalar
// tails, so vector width is decided here and not left to LLVM's
// auto-vectorizer (whose cost model and runtime alias checks we don't want in
// kernels whose shape we already know).
#include "codegen/cpu/vector_loop.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/DerivedTypes.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Metadata.h>

namespace horizon::codegen::cpu {
namespace {

// The !llvm.loop metadata of `hint`: keeps the loop vectorizer (and its
// interleaving) and, for tails, the unroller away from a loop.
llvm::MDNode* loop_id(llvm::LLVMContext& ctx, LoopHint hint) {
  auto flag = [&](const char* name, bool value) -> llvm::Metadata* {
    return llvm::MDNode::get(
        ctx, {llvm::MDString::get(ctx, name), llvm::ConstantAsMetadata::get(llvm::ConstantInt::getBool(ctx, value))});
  };
  llvm::SmallVector<llvm::Metadata*, 3> ops = {nullptr, flag("llvm.loop.vectorize.enable", false)};
  if (hint == LoopHint::no_vectorize_or_unroll) ops.push_back(flag("llvm.loop.unroll.disable", true));
  llvm::MDNode* id = llvm::MDNode::getDistinct(ctx, ops);
  id->replaceOperandWith(0, id);  // a loop id refers to itself, which keeps it distinct per loop
  return id;
}

}  // namespace

void emit_loop(llvm::IRBuilderBase& b, llvm::Value* begin, llvm::Value* end, int64_t step, LoopHint hint,
               const std::function<void(llvm::Value* i)>& body) {
  llvm::LLVMContext& ctx = b.getContext();
  llvm::Function* fn = b.GetInsertBlock()->getParent();
  llvm::BasicBlock* pre = b.GetInsertBlock();
  llvm::BasicBlock* loop = llvm::BasicBlock::Create(ctx, "loop", fn);
  llvm::BasicBlock* exit = llvm::BasicBlock::Create(ctx, "loop.exit", fn);
  // Guarded and rotated: the test runs before the first iteration and at the
  // latch, the shape LLVM's loop passes expect.
  b.CreateCondBr(b.CreateICmpSLT(begin, end), loop, exit);

  b.SetInsertPoint(loop);
  llvm::PHINode* i = b.CreatePHI(b.getInt64Ty(), 2, "i");
  i->addIncoming(begin, pre);
  body(i);
  llvm::Value* next = b.CreateAdd(i, b.getInt64(step), "i.next", /*HasNUW=*/false, /*HasNSW=*/true);
  llvm::BranchInst* latch = b.CreateCondBr(b.CreateICmpSLT(next, end), loop, exit);
  if (hint != LoopHint::none) latch->setMetadata(llvm::LLVMContext::MD_loop, loop_id(ctx, hint));
  i->addIncoming(next, b.GetInsertBlock());

  b.SetInsertPoint(exit);
}

void emit_vector_loop_with_tail(llvm::IRBuilderBase& b, llvm::Value* n, int width, const LaneBody& body) {
  llvm::Value* zero = b.getInt64(0);
  llvm::Value* count = b.CreateSelect(b.CreateICmpSLT(n, zero), zero, n, "count");
  llvm::Value* vector_end = count;
  if (width > 1) {
    // width is a power of two for every ISA we target, but stay general.
    llvm::Value* rem = b.CreateURem(count, b.getInt64(width));
    vector_end = b.CreateSub(count, rem, "vector.end");
    emit_loop(b, zero, vector_end, width, LoopHint::no_vectorize, [&](llvm::Value* i) { body(i, width); });
  }
  emit_loop(b, vector_end, count, 1, LoopHint::no_vectorize_or_unroll, [&](llvm::Value* i) { body(i, 1); });
}

llvm::Type* lanes_type(llvm::Type* elem, int lanes) {
  return lanes == 1 ? elem : llvm::FixedVectorType::get(elem, static_cast<unsigned>(lanes));
}

llvm::Value* splat(llvm::IRBuilderBase& b, llvm::Value* scalar, int lanes) {
  return lanes == 1 ? scalar : b.CreateVectorSplat(static_cast<unsigned>(lanes), scalar);
}

llvm::Value* load_lanes(llvm::IRBuilderBase& b, llvm::Type* elem, llvm::Value* base, llvm::Value* i, int lanes) {
  llvm::Value* ptr = b.CreateInBoundsGEP(elem, base, i);
  llvm::Align align(elem->getPrimitiveSizeInBits() / 8);
  return b.CreateAlignedLoad(lanes_type(elem, lanes), ptr, align);
}

void store_lanes(llvm::IRBuilderBase& b, llvm::Type* elem, llvm::Value* value, llvm::Value* base, llvm::Value* i) {
  llvm::Value* ptr = b.CreateInBoundsGEP(elem, base, i);
  llvm::Align align(elem->getPrimitiveSizeInBits() / 8);
  b.CreateAlignedStore(value, ptr, align);
}

}  // namespace horizon::codegen::cpu
