// The transcendental math of the elementwise ops, emitted inline as LLVM IR
// that works on a float or a <W x float> alike: e^x as a polynomial (LLVM's
// llvm.exp intrinsic becomes one libm call per lane on x86), and the
// sigmoid-based activations and their derivatives built on it. Private to
// codegen/cpu.
#pragma once

namespace llvm {
class IRBuilderBase;
class Value;
}  // namespace llvm

namespace horizon::codegen::cpu {

/// x * y + z per lane, fused where the ISA has FMA. (llvm.fmuladd, unlike
/// llvm.fma, never becomes a libm call on SSE2.)
llvm::Value* emit_mul_add(llvm::IRBuilderBase& b, llvm::Value* x, llvm::Value* y, llvm::Value* z);

/// e^x per lane, within ~2 ulp for x in [-87, 88]. Inputs outside that range
/// are clamped to it (e^88 = 1.7e38, e^-87 = 1.6e-38), which keeps the
/// sigmoid forms below finite; NaN stays NaN.
llvm::Value* emit_exp(llvm::IRBuilderBase& b, llvm::Value* x);

/// x * sigmoid(x).
llvm::Value* emit_silu(llvm::IRBuilderBase& b, llvm::Value* x);

/// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), evaluated as x * sigmoid(2u),
/// which is the same function without the cancellation of 1 + tanh for x < 0.
llvm::Value* emit_gelu(llvm::IRBuilderBase& b, llvm::Value* x);

/// dy * d silu(x)/dx = dy * s * (1 + x (1 - s)), s = sigmoid(x).
llvm::Value* emit_silu_grad(llvm::IRBuilderBase& b, llvm::Value* dy, llvm::Value* x);

/// dy * d gelu(x)/dx, the exact derivative of the tanh approximation.
llvm::Value* emit_gelu_grad(llvm::IRBuilderBase& b, llvm::Value* dy, llvm::Value* x);

}  // namespace horizon::codegen::cpu
