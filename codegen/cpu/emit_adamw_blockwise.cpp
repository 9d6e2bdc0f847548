// AdamW with 8-bit block-wise moments for the CPU JIT (cpu_jit.h's
// BlockwiseAdamWFn). Per block of kMomentBlock elements: a first vector loop
// decodes m and sqrt(v) (map value times the block's old scale), runs the same
// per-element update as the 16/32-bit step (emit_adamw_lanes), keeps the new
// fp32 m and sqrt(v) in a stack buffer and their largest magnitudes in vector
// accumulators; a second loop encodes them against the new scales by an
// 8-step binary search over the map's thresholds (gathers). The GPU kernel
// (codegen/cuda/optimizer_kernels.cpp) performs the same operations, so both
// write the same bytes.
#include <llvm/IR/Constants.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/GlobalVariable.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Module.h>

#include "codegen/cpu/emit_adamw.h"
#include "codegen/cpu/vector_loop.h"
#include "support/moment_quantization.h"

namespace horizon::codegen::cpu {
namespace {

template <size_t N>
llvm::GlobalVariable* float_table(llvm::Module& module, const std::array<float, N>& values, const char* name) {
  llvm::Constant* init = llvm::ConstantDataArray::get(module.getContext(), llvm::ArrayRef<float>(values.data(), N));
  return new llvm::GlobalVariable(module, init->getType(), /*isConstant=*/true, llvm::GlobalValue::PrivateLinkage, init,
                                  name);
}

// table[index] per lane (index: i32 lanes): a load for one lane, a gather otherwise.
llvm::Value* lookup(llvm::IRBuilderBase& b, llvm::GlobalVariable* table, llvm::Value* index, int lanes) {
  llvm::Type* f32 = b.getFloatTy();
  if (lanes == 1) return b.CreateAlignedLoad(f32, b.CreateInBoundsGEP(f32, table, index), llvm::Align(4));
  llvm::Value* ptrs = b.CreateInBoundsGEP(f32, table, index);
  return b.CreateMaskedGather(lanes_type(f32, lanes), ptrs, llvm::Align(4));
}

// The code of x per lane: how many of the 255 sorted thresholds x exceeds
// (support/moment_quantization.h quantize). NaN exceeds none.
llvm::Value* encode(llvm::IRBuilderBase& b, llvm::GlobalVariable* thresholds, llvm::Value* x, int lanes) {
  llvm::Type* i32 = lanes_type(b.getInt32Ty(), lanes);
  llvm::Value* code = llvm::ConstantInt::get(i32, 0);
  for (int step = 128; step > 0; step /= 2) {
    llvm::Value* t = lookup(b, thresholds, b.CreateAdd(code, llvm::ConstantInt::get(i32, step - 1)), lanes);
    code = b.CreateSelect(b.CreateFCmpOGT(x, t), b.CreateAdd(code, llvm::ConstantInt::get(i32, step)), code);
  }
  return b.CreateTrunc(code, lanes_type(b.getInt8Ty(), lanes));
}

llvm::Value* max_num(llvm::IRBuilderBase& b, llvm::Value* x, llvm::Value* y) {
  return b.CreateBinaryIntrinsic(llvm::Intrinsic::maxnum, x, y);
}

}  // namespace

void emit_blockwise_adamw_function(llvm::Module& module, int width, const std::string& name) {
  llvm::LLVMContext& ctx = module.getContext();
  llvm::IRBuilder<> b(ctx);
  llvm::Type* f32 = b.getFloatTy();
  llvm::Type* i8 = b.getInt8Ty();
  llvm::Type* i16 = b.getInt16Ty();
  llvm::Type* ptr = b.getPtrTy();
  auto* fn_type =
      llvm::FunctionType::get(b.getVoidTy(), {b.getInt64Ty(), ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr}, false);
  auto* fn = llvm::Function::Create(fn_type, llvm::Function::ExternalLinkage, name, module);
  const char* arg_names[] = {"n", "w_hi", "w_lo", "m", "v", "m_scale", "v_scale", "grad", "params"};
  for (unsigned k = 0; k < fn->arg_size(); ++k) fn->getArg(k)->setName(arg_names[k]);
  llvm::Value* n = fn->getArg(0);
  b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", fn));
  const AdamWScalars sc = emit_adamw_scalars(b, fn->getArg(8));

  const QuantizationMap& m_map = signed_dynamic_map();
  const QuantizationMap& v_map = unsigned_dynamic_map();
  llvm::GlobalVariable* m_values = float_table(module, m_map.values, "m_values");
  llvm::GlobalVariable* m_thresholds = float_table(module, m_map.thresholds, "m_thresholds");
  llvm::GlobalVariable* v_values = float_table(module, v_map.values, "v_values");
  llvm::GlobalVariable* v_thresholds = float_table(module, v_map.thresholds, "v_thresholds");

  // The new fp32 moments of one block, and the running maxima of |m| and |v|.
  llvm::Type* block_type = llvm::ArrayType::get(f32, kMomentBlock);
  llvm::Value* new_m = b.CreateAlloca(block_type, nullptr, "new_m");
  llvm::Value* new_v = b.CreateAlloca(block_type, nullptr, "new_v");
  llvm::Type* fv = lanes_type(f32, width);
  llvm::Value* most_m_vec = b.CreateAlloca(fv, nullptr, "most_m.vec");
  llvm::Value* most_v_vec = b.CreateAlloca(fv, nullptr, "most_v.vec");
  llvm::Value* most_m_one = b.CreateAlloca(f32, nullptr, "most_m");
  llvm::Value* most_v_one = b.CreateAlloca(f32, nullptr, "most_v");
  llvm::Value* zero = llvm::ConstantFP::get(f32, 0.0);

  emit_loop(b, b.getInt64(0), n, kMomentBlock, LoopHint::none, [&](llvm::Value* first) {
    llvm::Value* left = b.CreateSub(n, first);
    llvm::Value* len = b.CreateSelect(b.CreateICmpSLT(left, b.getInt64(kMomentBlock)), left, b.getInt64(kMomentBlock));
    llvm::Value* block = b.CreateLShr(first, b.getInt64(8));
    static_assert(kMomentBlock == 256);
    llvm::Value* w_hi = b.CreateInBoundsGEP(i16, fn->getArg(1), first);
    llvm::Value* w_lo = b.CreateInBoundsGEP(i16, fn->getArg(2), first);
    llvm::Value* m_codes = b.CreateInBoundsGEP(i8, fn->getArg(3), first);
    llvm::Value* v_codes = b.CreateInBoundsGEP(i8, fn->getArg(4), first);
    llvm::Value* m_scale = b.CreateInBoundsGEP(f32, fn->getArg(5), block);
    llvm::Value* v_scale = b.CreateInBoundsGEP(f32, fn->getArg(6), block);
    llvm::Value* grad = b.CreateInBoundsGEP(f32, fn->getArg(7), first);
    llvm::Value* old_m_scale = b.CreateAlignedLoad(f32, m_scale, llvm::Align(4));
    llvm::Value* old_v_scale = b.CreateAlignedLoad(f32, v_scale, llvm::Align(4));
    b.CreateStore(splat(b, zero, width), most_m_vec);
    b.CreateStore(splat(b, zero, width), most_v_vec);
    b.CreateStore(zero, most_m_one);
    b.CreateStore(zero, most_v_one);

    emit_vector_loop_with_tail(b, len, width, [&](llvm::Value* i, int lanes) {
      llvm::Type* i32 = lanes_type(b.getInt32Ty(), lanes);
      auto decode = [&](llvm::GlobalVariable* values, llvm::Value* codes, llvm::Value* scale) {
        llvm::Value* code = b.CreateZExt(load_lanes(b, i8, codes, i, lanes), i32);
        return b.CreateFMul(lookup(b, values, code, lanes), splat(b, scale, lanes));
      };
      llvm::Value* v_root = decode(v_values, v_codes, old_v_scale);  // v is kept as sqrt(v)
      auto [m, v_new] = emit_adamw_lanes(b, sc, w_hi, w_lo, grad, i, lanes, decode(m_values, m_codes, old_m_scale),
                                         b.CreateFMul(v_root, v_root));
      llvm::Value* v = b.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, v_new);
      store_lanes(b, f32, m, new_m, i);
      store_lanes(b, f32, v, new_v, i);
      llvm::Value* m_acc = lanes == 1 ? most_m_one : most_m_vec;
      llvm::Value* v_acc = lanes == 1 ? most_v_one : most_v_vec;
      llvm::Type* t = lanes_type(f32, lanes);
      b.CreateStore(max_num(b, b.CreateLoad(t, m_acc), b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, m)), m_acc);
      b.CreateStore(max_num(b, b.CreateLoad(t, v_acc), b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, v)), v_acc);
    });

    // max is exact and, NaN aside (maxnum drops it, as the GPU's fmaxf does),
    // independent of order: the vector lanes, then the tail.
    auto most = [&](llvm::Value* vec, llvm::Value* one) {
      llvm::Value* x = b.CreateLoad(f32, one);
      if (width > 1) x = max_num(b, b.CreateFPMaxReduce(b.CreateLoad(fv, vec)), x);
      return x;
    };
    llvm::Value* most_m = most(most_m_vec, most_m_one);
    llvm::Value* most_v = most(most_v_vec, most_v_one);
    auto inverse = [&](llvm::Value* x) {
      return b.CreateSelect(b.CreateFCmpOEQ(x, zero), zero, b.CreateFDiv(llvm::ConstantFP::get(f32, 1.0), x));
    };
    llvm::Value* inv_m = inverse(most_m);
    llvm::Value* inv_v = inverse(most_v);

    emit_vector_loop_with_tail(b, len, width, [&](llvm::Value* i, int lanes) {
      llvm::Value* m = b.CreateFMul(load_lanes(b, f32, new_m, i, lanes), splat(b, inv_m, lanes));
      llvm::Value* v = b.CreateFMul(load_lanes(b, f32, new_v, i, lanes), splat(b, inv_v, lanes));
      store_lanes(b, i8, encode(b, m_thresholds, m, lanes), m_codes, i);
      store_lanes(b, i8, encode(b, v_thresholds, v, lanes), v_codes, i);
    });
    b.CreateAlignedStore(most_m, m_scale, llvm::Align(4));
    b.CreateAlignedStore(most_v, v_scale, llvm::Align(4));
  });
  b.CreateRetVoid();
}

}  // namespace horizon::codegen::cpu
