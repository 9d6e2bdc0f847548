// Polynomial e^x and the sigmoid-family activations for the CPU JIT. All
// functions take and return values of one type, float or <W x float>, so the
// same code serves the vector loop and its scalar tail. No fast-math flags:
// results must match a double reference to ~1e-6 and keep NaN.
//
// Each activation is written through sigmoid(z) = 1 / (1 + e^-z) and
// 1 - sigmoid(z) = e^-z * sigmoid(z), which never subtracts nearly equal
// numbers: the textbook forms 1 + tanh(u) and 1 - s lose all digits where the
// result is small.
#include "codegen/cpu/vector_math.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/DerivedTypes.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>

#include <cmath>
#include <numbers>

namespace horizon::codegen::cpu {
namespace {

llvm::Value* constant(llvm::Value* like, double v) { return llvm::ConstantFP::get(like->getType(), v); }

// The int32 type with the shape of `like` (float or <W x float>).
llvm::Type* int_type_like(llvm::IRBuilderBase& b, llvm::Value* like) {
  if (auto* vt = llvm::dyn_cast<llvm::FixedVectorType>(like->getType()))
    return llvm::FixedVectorType::get(b.getInt32Ty(), vt->getNumElements());
  return b.getInt32Ty();
}

// sigmoid(z) given e = e^-z.
llvm::Value* sigmoid_from_exp(llvm::IRBuilderBase& b, llvm::Value* e) {
  return b.CreateFDiv(constant(e, 1.0), b.CreateFAdd(constant(e, 1.0), e));
}

constexpr double kSqrt2OverPi = 0.79788456080286535588;  // sqrt(2/pi)
constexpr double kGeluCubic = 0.044715;

// z = 2 sqrt(2/pi) (x + 0.044715 x^3) = x (A + B x^2): gelu(x) = x sigmoid(z).
constexpr double kGeluA = 2.0 * kSqrt2OverPi;
constexpr double kGeluB = 2.0 * kSqrt2OverPi * kGeluCubic;

}  // namespace

llvm::Value* emit_mul_add(llvm::IRBuilderBase& b, llvm::Value* x, llvm::Value* y, llvm::Value* z) {
  return b.CreateIntrinsic(llvm::Intrinsic::fmuladd, {x->getType()}, {x, y, z});
}

llvm::Value* emit_exp(llvm::IRBuilderBase& b, llvm::Value* x) {
  // Clamp with compare+select rather than minnum/maxnum, which would turn NaN
  // into a bound.
  x = b.CreateSelect(b.CreateFCmpOGT(x, constant(x, 88.0)), constant(x, 88.0), x);
  x = b.CreateSelect(b.CreateFCmpOLT(x, constant(x, -87.0)), constant(x, -87.0), x);

  // x = n ln2 + r with n = round(x / ln2) and |r| <= ln2/2. Adding 1.5 * 2^23
  // rounds to an integer in the low mantissa bits (no SSE4.1 round needed),
  // and those bits are n itself.
  constexpr double kMagic = 12582912.0;  // 1.5 * 2^23
  llvm::Value* t = emit_mul_add(b, x, constant(x, std::numbers::log2e), constant(x, kMagic));
  llvm::Value* n = b.CreateFSub(t, constant(x, kMagic));
  // Cody-Waite: ln2_hi has 9 significant bits, so n * ln2_hi is exact for |n| < 2^15.
  constexpr double kLn2Hi = 0.693359375;
  constexpr double kLn2Lo = std::numbers::ln2 - kLn2Hi;
  llvm::Value* r = emit_mul_add(b, n, constant(x, -kLn2Hi), x);
  r = emit_mul_add(b, n, constant(x, -kLn2Lo), r);

  // e^r by its Taylor series to r^7: the truncation error on |r| <= 0.347 is
  // 7e-9 relative, below float's half ulp (6e-8).
  llvm::Value* p = constant(x, 1.0 / 5040.0);
  for (double c : {1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0})
    p = emit_mul_add(b, p, r, constant(x, c));

  // 2^n from n's bits in t: the low 9 bits of bits(t) + 127 are n + 127 for
  // the clamped range n in [-126, 127] (bits(magic) has its low 22 bits zero).
  llvm::Type* it = int_type_like(b, x);
  llvm::Value* biased = b.CreateAdd(b.CreateBitCast(t, it), llvm::ConstantInt::get(it, 127));
  llvm::Value* scale = b.CreateBitCast(b.CreateShl(biased, llvm::ConstantInt::get(it, 23)), x->getType());
  return b.CreateFMul(p, scale);
}

llvm::Value* emit_silu(llvm::IRBuilderBase& b, llvm::Value* x) {
  llvm::Value* e = emit_exp(b, b.CreateFNeg(x));
  return b.CreateFDiv(x, b.CreateFAdd(constant(x, 1.0), e));
}

llvm::Value* emit_gelu(llvm::IRBuilderBase& b, llvm::Value* x) {
  llvm::Value* z = b.CreateFMul(x, emit_mul_add(b, constant(x, kGeluB), b.CreateFMul(x, x), constant(x, kGeluA)));
  llvm::Value* e = emit_exp(b, b.CreateFNeg(z));
  return b.CreateFDiv(x, b.CreateFAdd(constant(x, 1.0), e));
}

llvm::Value* emit_silu_grad(llvm::IRBuilderBase& b, llvm::Value* dy, llvm::Value* x) {
  llvm::Value* e = emit_exp(b, b.CreateFNeg(x));
  llvm::Value* s = sigmoid_from_exp(b, e);
  llvm::Value* one_minus_s = b.CreateFMul(e, s);
  llvm::Value* inner = emit_mul_add(b, x, one_minus_s, constant(x, 1.0));  // 1 + x (1 - s)
  return b.CreateFMul(dy, b.CreateFMul(s, inner));
}

llvm::Value* emit_gelu_grad(llvm::IRBuilderBase& b, llvm::Value* dy, llvm::Value* x) {
  // d/dx [x s(z)] = s + x s (1 - s) z',  z' = A + 3 B x^2.
  llvm::Value* x2 = b.CreateFMul(x, x);
  llvm::Value* z = b.CreateFMul(x, emit_mul_add(b, constant(x, kGeluB), x2, constant(x, kGeluA)));
  llvm::Value* dz = emit_mul_add(b, constant(x, 3.0 * kGeluB), x2, constant(x, kGeluA));
  llvm::Value* e = emit_exp(b, b.CreateFNeg(z));
  llvm::Value* s = sigmoid_from_exp(b, e);
  llvm::Value* one_minus_s = b.CreateFMul(e, s);
  llvm::Value* inner = emit_mul_add(b, b.CreateFMul(x, one_minus_s), dz, constant(x, 1.0));  // 1 + x (1 - s) z'
  return b.CreateFMul(dy, b.CreateFMul(s, inner));
}

}  // namespace horizon::codegen::cpu
