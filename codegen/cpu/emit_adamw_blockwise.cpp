// AdamW with 8-bit block-wise moments for the CPU JIT (cpu_jit.h's
// BlockwiseAdamWFn). Per block of kMomentBlock elements: a first vector loop
// decodes m and sqrt(v) (map value times the block's old scale), runs the same
// per-element update as the 16/32-bit step (emit_adamw_lanes), keeps the new
// fp32 m and sqrt(v) in a stack buffer and their largest magnitudes in vector
// accumulators; a second loop encodes them against the new scales through
// the bucket tables of support/moment_quantization.h (two gathers per moment). The GPU kernel
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

template <class T>
llvm::GlobalVariable* table(llvm::Module& module, const T* values, size_t n, const char* name) {
  llvm::Constant* init = llvm::ConstantDataArray::get(module.getContext(), llvm::ArrayRef<T>(values, n));
  return new llvm::GlobalVariable(module, init->getType(), /*isConstant=*/true, llvm::GlobalValue::PrivateLinkage, init,
                                  name);
}

// table[index] of `elem` per lane (index: i32 lanes): a load for one lane, a gather otherwise.
llvm::Value* lookup(llvm::IRBuilderBase& b, llvm::Type* elem, llvm::GlobalVariable* table, llvm::Value* index,
                    int lanes) {
  llvm::Value* ptrs = b.CreateInBoundsGEP(elem, table, index);
  if (lanes == 1) return b.CreateAlignedLoad(elem, ptrs, llvm::Align(4));
  return b.CreateMaskedGather(lanes_type(elem, lanes), ptrs, llvm::Align(4));
}

struct EncodeTables {
  llvm::GlobalVariable *below, *inside;
};

// The code of x per lane: how many of the 255 sorted thresholds x exceeds
// (support/moment_quantization.h quantize), found through the bucket table
// (quantize_by_table): two gathers instead of a binary search's eight, which
// on x86 cost most of the step. NaN exceeds none.
llvm::Value* encode(llvm::IRBuilderBase& b, const EncodeTables& t, llvm::Value* x, int lanes) {
  llvm::Type* i32 = lanes_type(b.getInt32Ty(), lanes);
  auto c = [&](int64_t v) { return llvm::ConstantInt::get(i32, static_cast<uint64_t>(v)); };
  llvm::Value* bits = b.CreateBitCast(x, i32);
  llvm::Value* key = b.CreateLShr(b.CreateAnd(bits, c(0x7fffffff)), c(16));
  llvm::Value* bucket = b.CreateSub(key, c(kEncodeFirstKey - 1));
  bucket = b.CreateBinaryIntrinsic(llvm::Intrinsic::smax, bucket, c(0));
  bucket = b.CreateBinaryIntrinsic(llvm::Intrinsic::smin, bucket, c(kEncodeBuckets - 1));
  llvm::Value* index = b.CreateAdd(bucket, b.CreateMul(b.CreateLShr(bits, c(31)), c(kEncodeBuckets)));
  llvm::Value* below = lookup(b, b.getInt32Ty(), t.below, index, lanes);
  llvm::Value* inside = lookup(b, b.getFloatTy(), t.inside, index, lanes);
  llvm::Value* code = b.CreateAdd(below, b.CreateZExt(b.CreateFCmpOGT(x, inside), i32));
  code = b.CreateSelect(b.CreateFCmpUNO(x, x), c(0), code);
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
  llvm::GlobalVariable* m_values = table(module, m_map.values.data(), 256, "m_values");
  llvm::GlobalVariable* v_values = table(module, v_map.values.data(), 256, "v_values");
  auto encode_tables = [&](const QuantizationMap& map, const char* below, const char* inside) {
    const EncodeTable& e = encode_table(map);
    return EncodeTables{table(module, e.below.data(), e.below.size(), below),
                        table(module, e.inside.data(), e.inside.size(), inside)};
  };
  const EncodeTables m_encode = encode_tables(m_map, "m_below", "m_inside");
  const EncodeTables v_encode = encode_tables(v_map, "v_below", "v_inside");

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
        return b.CreateFMul(lookup(b, f32, values, code, lanes), splat(b, scale, lanes));
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
      store_lanes(b, i8, encode(b, m_encode, m, lanes), m_codes, i);
      store_lanes(b, i8, encode(b, v_encode, v, lanes), v_codes, i);
    });
    b.CreateAlignedStore(most_m, m_scale, llvm::Align(4));
    b.CreateAlignedStore(most_v, v_scale, llvm::Align(4));
  });
  b.CreateRetVoid();
}

}  // namespace horizon::codegen::cpu
