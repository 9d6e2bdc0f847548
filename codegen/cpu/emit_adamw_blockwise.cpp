// AdamW with 8-bit block-wise moments for the CPU JIT (cpu_jit.h's
// BlockwiseAdamWFn). Per block of kMomentBlock elements: a first vector loop
// decodes m and sqrt(v) (map value times the block's old scale), runs the same
// per-element update as the 16/32-bit step (emit_adamw_lanes), keeps the new
// fp32 m and sqrt(v) in a stack buffer and their largest magnitudes in vector
// accumulators; a second loop encodes them against the new scales (one
// reciprocal per block, no division per element). The GPU kernel
// (codegen/cuda/optimizer_kernels.cpp) performs the same operations, so both
// write the same bytes.
//
// Table lookups are where the time goes: on x86 a gather costs about as much
// as the rest of an element's update (measured on AMD EPYC, AVX-512: 0.25
// Gparam/s per thread with six gathers per 16 elements, 1.5 with none). With
// 16 lanes (AVX-512) both lookups therefore stay in registers: decoding is
// eight two-register permutes (vpermi2ps, 32 entries each) and a select tree
// on the code's top bits; encoding is the branch-free binary search of the
// 255 thresholds that quantize() defines, each level's probes permuted out
// of at most four register pairs. Narrower vectors and tails gather: the map
// value, and one 32-bit word of support/moment_quantization.h's bucket table.
#include <llvm/IR/Constants.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/GlobalVariable.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/IntrinsicsX86.h>
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

// AVX-512, 16 lanes: table[index] of a constant table of a power-of-two
// size up to 256, without a gather. vpermi2ps picks from 32 entries (two
// registers) by the index's low 5 bits; selects on the higher bits pick the
// chunk. Up to 16 entries one vpermps does.
llvm::Value* permute_lookup(llvm::IRBuilderBase& b, const std::vector<float>& table, llvm::Value* index) {
  constexpr int kLanes = 16;
  llvm::Type* i32 = lanes_type(b.getInt32Ty(), kLanes);
  auto registers = [&](size_t first) {
    std::vector<float> v(kLanes, 0.0f);
    for (size_t k = 0; k < kLanes && first + k < table.size(); ++k) v[k] = table[first + k];
    return llvm::ConstantDataVector::get(b.getContext(), llvm::ArrayRef<float>(v));
  };
  if (table.size() <= kLanes)
    return b.CreateIntrinsic(llvm::Intrinsic::x86_avx512_permvar_sf_512, {}, {registers(0), index});
  std::vector<llvm::Value*> chunks;
  for (size_t first = 0; first < table.size(); first += 2 * kLanes)
    chunks.push_back(b.CreateIntrinsic(llvm::Intrinsic::x86_avx512_vpermi2var_ps_512, {},
                                       {registers(first), index, registers(first + kLanes)}));
  for (uint64_t bit = 2 * kLanes; chunks.size() > 1; bit *= 2) {
    llvm::Value* upper =
        b.CreateICmpNE(b.CreateAnd(index, llvm::ConstantInt::get(i32, bit)), llvm::ConstantInt::get(i32, 0));
    std::vector<llvm::Value*> picked;
    for (size_t k = 0; k + 1 < chunks.size(); k += 2) picked.push_back(b.CreateSelect(upper, chunks[k + 1], chunks[k]));
    chunks = std::move(picked);
  }
  return chunks[0];
}

// AVX-512: quantize()'s code as its definition counts it, the thresholds x
// exceeds, by a branch-free binary search: 8 levels, level k adding 2^k
// where x exceeds the probe thresholds[idx + 2^k - 1]; the probes of a level
// are a table indexed by idx >> (k + 1). NaN exceeds nothing: code 0.
llvm::Value* encode_by_search(llvm::IRBuilderBase& b, const QuantizationMap& map, llvm::Value* x) {
  constexpr int kLanes = 16;
  llvm::Type* i32 = lanes_type(b.getInt32Ty(), kLanes);
  auto c = [&](int64_t v) { return llvm::ConstantInt::get(i32, static_cast<uint64_t>(v)); };
  llvm::Value* idx = c(0);
  for (int k = 7; k >= 0; --k) {
    const int step = 1 << k;
    std::vector<float> probes;
    for (int j = 0; j * 2 * step + step - 1 < 255; ++j)
      probes.push_back(map.thresholds[static_cast<size_t>(j * 2 * step + step - 1)]);
    llvm::Value* probe = probes.size() == 1 ? splat(b, llvm::ConstantFP::get(b.getFloatTy(), probes[0]), kLanes)
                                            : permute_lookup(b, probes, b.CreateLShr(idx, c(k + 1)));
    idx = b.CreateAdd(idx, b.CreateSelect(b.CreateFCmpOGT(x, probe), c(step), c(0)));
  }
  return b.CreateTrunc(idx, lanes_type(b.getInt8Ty(), kLanes));
}

// The code of x per lane: how many of the 255 sorted thresholds x exceeds
// (support/moment_quantization.h quantize), found through the bucket table
// (quantize_by_table): one gather of the bucket's word instead of a binary
// search's eight, which on x86 cost most of the step. The word's upper half
// counts the thresholds below the bucket; x exceeds the one inside when its
// low 16 bits exceed the word's (a negative x: fall below them). NaN exceeds none.
llvm::Value* encode(llvm::IRBuilderBase& b, llvm::GlobalVariable* words, llvm::Value* x, int lanes) {
  llvm::Type* i32 = lanes_type(b.getInt32Ty(), lanes);
  auto c = [&](int64_t v) { return llvm::ConstantInt::get(i32, static_cast<uint64_t>(v)); };
  llvm::Value* bits = b.CreateBitCast(x, i32);
  llvm::Value* key = b.CreateLShr(b.CreateAnd(bits, c(0x7fffffff)), c(16));
  llvm::Value* bucket = b.CreateSub(key, c(kEncodeFirstKey - 1));
  bucket = b.CreateBinaryIntrinsic(llvm::Intrinsic::smax, bucket, c(0));
  bucket = b.CreateBinaryIntrinsic(llvm::Intrinsic::smin, bucket, c(kEncodeBuckets - 1));
  llvm::Value* negative = b.CreateICmpSLT(bits, c(0));
  llvm::Value* index = b.CreateAdd(bucket, b.CreateSelect(negative, c(kEncodeBuckets), c(0)));
  llvm::Value* word = lookup(b, b.getInt32Ty(), words, index, lanes);
  llvm::Value* low = b.CreateAnd(bits, c(0xffff));
  llvm::Value* inside = b.CreateAnd(word, c(0xffff));
  llvm::Value* above = b.CreateSelect(negative, b.CreateICmpULT(low, inside), b.CreateICmpUGT(low, inside));
  llvm::Value* code = b.CreateAdd(b.CreateLShr(word, c(16)), b.CreateZExt(above, i32));
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
  auto encode_words = [&](const QuantizationMap& map, const char* name) {
    const EncodeTable& e = encode_table(map);
    return table(module, e.words.data(), e.words.size(), name);
  };
  llvm::GlobalVariable* m_encode = encode_words(m_map, "m_encode");
  llvm::GlobalVariable* v_encode = encode_words(v_map, "v_encode");

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
      auto decode = [&](const QuantizationMap& map, llvm::GlobalVariable* values, llvm::Value* codes,
                        llvm::Value* scale) {
        llvm::Value* code = b.CreateZExt(load_lanes(b, i8, codes, i, lanes), i32);
        llvm::Value* value = lanes == 16
                                 ? permute_lookup(b, std::vector<float>(map.values.begin(), map.values.end()), code)
                                 : lookup(b, f32, values, code, lanes);
        return b.CreateFMul(value, splat(b, scale, lanes));
      };
      llvm::Value* v_root = decode(v_map, v_values, v_codes, old_v_scale);  // v is kept as sqrt(v)
      auto [m, v_new] = emit_adamw_lanes(b, sc, w_hi, w_lo, grad, i, lanes,
                                         decode(m_map, m_values, m_codes, old_m_scale), b.CreateFMul(v_root, v_root));
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
      store_lanes(b, i8, lanes == 16 ? encode_by_search(b, m_map, m) : encode(b, m_encode, m, lanes), m_codes, i);
      store_lanes(b, i8, lanes == 16 ? encode_by_search(b, v_map, v) : encode(b, v_encode, v, lanes), v_codes, i);
    });
    b.CreateAlignedStore(most_m, m_scale, llvm::Align(4));
    b.CreateAlignedStore(most_v, v_scale, llvm::Align(4));
  });
  b.CreateRetVoid();
}

}  // namespace horizon::codegen::cpu
