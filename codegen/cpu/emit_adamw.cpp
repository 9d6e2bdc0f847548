// AdamW for the CPU JIT, memory bound by design: one pass reads the two 16-bit
// weight planes, both moments and the fp32 gradient, and writes back all but
// the gradient (20 bytes/param with bf16 moments, 28 with fp32). The master
// weight is rebuilt exactly from its planes, updated in fp32 and split again
// (support/bf16.h split_master); the new hi plane is the bf16 weight the GPU
// streams, rounded to nearest.
#include "codegen/cpu/emit_adamw.h"

#include <llvm/IR/Function.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Module.h>

#include <cstddef>
#include <utility>

#include "codegen/cpu/vector_loop.h"
#include "codegen/cpu/vector_math.h"

namespace horizon::codegen::cpu {
namespace {

// The emitted code reads AdamWParams as eight consecutive floats in this order.
enum ParamField { kLr, kBeta1, kBeta2, kEps, kWeightDecay, kBiasCorrection1, kBiasCorrection2, kGradScale, kFields };
static_assert(sizeof(AdamWParams) == kFields * sizeof(float));
static_assert(offsetof(AdamWParams, lr) == kLr * sizeof(float));
static_assert(offsetof(AdamWParams, beta1) == kBeta1 * sizeof(float));
static_assert(offsetof(AdamWParams, beta2) == kBeta2 * sizeof(float));
static_assert(offsetof(AdamWParams, eps) == kEps * sizeof(float));
static_assert(offsetof(AdamWParams, weight_decay) == kWeightDecay * sizeof(float));
static_assert(offsetof(AdamWParams, bias_correction1) == kBiasCorrection1 * sizeof(float));
static_assert(offsetof(AdamWParams, bias_correction2) == kBiasCorrection2 * sizeof(float));
static_assert(offsetof(AdamWParams, grad_scale) == kGradScale * sizeof(float));

// The i32 type of `lanes` lanes.
llvm::Type* i32_lanes(llvm::IRBuilderBase& b, int lanes) { return lanes_type(b.getInt32Ty(), lanes); }

// bf16 bits (i16 lanes) to fp32: exact.
llvm::Value* bf16_to_f32(llvm::IRBuilderBase& b, llvm::Value* bits, int lanes) {
  llvm::Type* i32 = i32_lanes(b, lanes);
  llvm::Value* wide = b.CreateShl(b.CreateZExt(bits, i32), llvm::ConstantInt::get(i32, 16));
  return b.CreateBitCast(wide, lanes_type(b.getFloatTy(), lanes));
}

// fp32 to bf16 bits, round to nearest even. NaN would round into infinity
// (or carry into the sign) when its payload sits in the dropped bits, so NaN
// keeps its sign and upper payload and sets the quiet bit instead.
llvm::Value* f32_to_bf16_rne(llvm::IRBuilderBase& b, llvm::Value* x, int lanes) {
  llvm::Type* i32 = i32_lanes(b, lanes);
  auto c = [&](uint32_t v) { return llvm::ConstantInt::get(i32, v); };
  llvm::Value* bits = b.CreateBitCast(x, i32);
  llvm::Value* upper = b.CreateLShr(bits, c(16));
  llvm::Value* lsb = b.CreateAnd(upper, c(1));
  llvm::Value* rounded = b.CreateLShr(b.CreateAdd(bits, b.CreateAdd(lsb, c(0x7fff))), c(16));
  llvm::Value* quiet_nan = b.CreateOr(upper, c(0x0040));
  llvm::Value* result = b.CreateSelect(b.CreateFCmpUNO(x, x), quiet_nan, rounded);
  return b.CreateTrunc(result, lanes_type(b.getInt16Ty(), lanes));
}

// The split master weight as support/bf16.h defines it (i32 lanes holding
// 16-bit planes): hi rounded to nearest, lo the low half; lo's top bit marks
// the carry, except where hi's exponent is all ones.
llvm::Value* bf16_special(llvm::IRBuilderBase& b, llvm::Value* hi, int lanes) {
  llvm::Type* i32 = i32_lanes(b, lanes);
  llvm::Value* mask = llvm::ConstantInt::get(i32, 0x7f80);
  return b.CreateICmpEQ(b.CreateAnd(hi, mask), mask);
}

llvm::Value* join_master(llvm::IRBuilderBase& b, llvm::Value* hi, llvm::Value* lo, int lanes) {
  llvm::Type* i32 = i32_lanes(b, lanes);
  auto c = [&](uint32_t v) { return llvm::ConstantInt::get(i32, v); };
  llvm::Value* carry = b.CreateSelect(bf16_special(b, hi, lanes), c(0), b.CreateLShr(lo, c(15)));
  return b.CreateOr(b.CreateShl(b.CreateSub(hi, carry), c(16)), lo);
}

std::pair<llvm::Value*, llvm::Value*> split_master(llvm::IRBuilderBase& b, llvm::Value* bits, int lanes) {
  llvm::Type* i32 = i32_lanes(b, lanes);
  auto c = [&](uint32_t v) { return llvm::ConstantInt::get(i32, v); };
  llvm::Value* truncated = b.CreateLShr(bits, c(16));
  llvm::Value* rounded = b.CreateLShr(b.CreateAdd(bits, c(0x8000)), c(16));
  llvm::Value* t_special = bf16_special(b, truncated, lanes);
  llvm::Value* overflow = b.CreateAnd(b.CreateNot(t_special), bf16_special(b, rounded, lanes));
  llvm::Value* hi = b.CreateSelect(b.CreateOr(t_special, overflow), truncated, rounded);
  llvm::Value* lo = b.CreateSelect(overflow, c(0x7fff), b.CreateAnd(bits, c(0xffff)));
  return {hi, lo};
}

}  // namespace

AdamWScalars emit_adamw_scalars(llvm::IRBuilderBase& b, llvm::Value* params) {
  llvm::Type* f32 = b.getFloatTy();
  auto field = [&](ParamField f) {
    return b.CreateAlignedLoad(f32, b.CreateConstInBoundsGEP1_64(f32, params, f), llvm::Align(4));
  };
  llvm::Value* one = llvm::ConstantFP::get(f32, 1.0);
  // Per-step scalars, computed once. The bias corrections become reciprocals:
  // a multiply per element instead of a divide, for half an ulp of extra rounding.
  AdamWScalars s;
  s.neg_lr = b.CreateFNeg(field(kLr));
  s.beta1 = field(kBeta1);
  s.beta2 = field(kBeta2);
  s.one_minus_beta1 = b.CreateFSub(one, s.beta1);
  s.one_minus_beta2 = b.CreateFSub(one, s.beta2);
  s.eps = field(kEps);
  s.weight_decay = field(kWeightDecay);
  s.inv_bc1 = b.CreateFDiv(one, field(kBiasCorrection1));
  s.inv_bc2 = b.CreateFDiv(one, field(kBiasCorrection2));
  s.grad_scale = field(kGradScale);
  return s;
}

std::pair<llvm::Value*, llvm::Value*> emit_adamw_lanes(llvm::IRBuilderBase& b, const AdamWScalars& sc,
                                                       llvm::Value* w_hi, llvm::Value* w_lo, llvm::Value* grad,
                                                       llvm::Value* i, int lanes, llvm::Value* m_old,
                                                       llvm::Value* v_old) {
  llvm::Type* f32 = b.getFloatTy();
  llvm::Type* i16 = b.getInt16Ty();
  auto s = [&](llvm::Value* scalar) { return splat(b, scalar, lanes); };
  llvm::Type* i32 = i32_lanes(b, lanes);
  llvm::Type* fv = lanes_type(f32, lanes);

  llvm::Value* hi = b.CreateZExt(load_lanes(b, i16, w_hi, i, lanes), i32);
  llvm::Value* lo = b.CreateZExt(load_lanes(b, i16, w_lo, i, lanes), i32);
  llvm::Value* w = b.CreateBitCast(join_master(b, hi, lo, lanes), fv);
  llvm::Value* g = b.CreateFMul(load_lanes(b, f32, grad, i, lanes), s(sc.grad_scale));

  llvm::Value* m = emit_mul_add(b, s(sc.beta1), m_old, b.CreateFMul(s(sc.one_minus_beta1), g));
  llvm::Value* v = emit_mul_add(b, s(sc.beta2), v_old, b.CreateFMul(b.CreateFMul(s(sc.one_minus_beta2), g), g));

  llvm::Value* v_hat = b.CreateFMul(v, s(sc.inv_bc2));
  llvm::Value* denom = b.CreateFAdd(b.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, v_hat), s(sc.eps));
  llvm::Value* adam = b.CreateFDiv(b.CreateFMul(m, s(sc.inv_bc1)), denom);
  llvm::Value* update = emit_mul_add(b, s(sc.weight_decay), w, adam);
  w = emit_mul_add(b, s(sc.neg_lr), update, w);

  auto [new_hi, new_lo] = split_master(b, b.CreateBitCast(w, i32), lanes);
  llvm::Type* i16v = lanes_type(i16, lanes);
  store_lanes(b, i16, b.CreateTrunc(new_hi, i16v), w_hi, i);
  store_lanes(b, i16, b.CreateTrunc(new_lo, i16v), w_lo, i);
  return {m, v};
}

void emit_adamw_function(llvm::Module& module, MomentType moments, int width, const std::string& name) {
  llvm::LLVMContext& ctx = module.getContext();
  llvm::IRBuilder<> b(ctx);
  llvm::Type* f32 = b.getFloatTy();
  llvm::Type* i16 = b.getInt16Ty();
  llvm::Type* ptr = b.getPtrTy();
  auto* fn_type = llvm::FunctionType::get(b.getVoidTy(), {b.getInt64Ty(), ptr, ptr, ptr, ptr, ptr, ptr}, false);
  auto* fn = llvm::Function::Create(fn_type, llvm::Function::ExternalLinkage, name, module);
  const char* arg_names[] = {"n", "w_hi", "w_lo", "m", "v", "grad", "params"};
  for (unsigned k = 0; k < fn->arg_size(); ++k) fn->getArg(k)->setName(arg_names[k]);
  llvm::Value* n = fn->getArg(0);
  llvm::Value* w_hi = fn->getArg(1);
  llvm::Value* w_lo = fn->getArg(2);
  llvm::Value* m_ptr = fn->getArg(3);
  llvm::Value* v_ptr = fn->getArg(4);
  llvm::Value* grad = fn->getArg(5);
  b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", fn));
  const AdamWScalars sc = emit_adamw_scalars(b, fn->getArg(6));

  llvm::Type* moment_elem = moments == MomentType::bf16 ? i16 : f32;
  auto load_moment = [&](llvm::Value* base, llvm::Value* i, int lanes) {
    llvm::Value* x = load_lanes(b, moment_elem, base, i, lanes);
    return moments == MomentType::bf16 ? bf16_to_f32(b, x, lanes) : x;
  };
  auto store_moment = [&](llvm::Value* x, llvm::Value* base, llvm::Value* i, int lanes) {
    if (moments == MomentType::bf16) x = f32_to_bf16_rne(b, x, lanes);
    store_lanes(b, moment_elem, x, base, i);
  };

  emit_vector_loop_with_tail(b, n, width, [&](llvm::Value* i, int lanes) {
    auto [m, v] =
        emit_adamw_lanes(b, sc, w_hi, w_lo, grad, i, lanes, load_moment(m_ptr, i, lanes), load_moment(v_ptr, i, lanes));
    store_moment(m, m_ptr, i, lanes);
    store_moment(v, v_ptr, i, lanes);
  });
  b.CreateRetVoid();
}

}  // namespace horizon::codegen::cpu
