// Emits the AdamW step (cpu_jit.h's AdamWFn) over the split fp32 master
// weight as one LLVM function. Private to codegen/cpu.
#pragma once

#include <string>
#include <utility>

#include "codegen/cpu/cpu_jit.h"

namespace llvm {
class IRBuilderBase;
class Module;
class Value;
}  // namespace llvm

namespace horizon::codegen::cpu {

/// Adds `void name(i64 n, ptr w_hi, ptr w_lo, ptr m, ptr v, ptr grad, ptr params)`
/// to `module`, vector loops of `width` lanes with a scalar tail.
void emit_adamw_function(llvm::Module& module, MomentType moments, int width, const std::string& name);

/// Adds `void name(i64 n, ptr w_hi, ptr w_lo, ptr m, ptr v, ptr m_scale,
/// ptr v_scale, ptr grad, ptr params)`: cpu_jit.h's BlockwiseAdamWFn
/// (emit_adamw_blockwise.cpp).
void emit_blockwise_adamw_function(llvm::Module& module, int width, const std::string& name);

/// The per-step scalars of AdamWParams, loaded and formed once per call.
struct AdamWScalars {
  llvm::Value *neg_lr, *beta1, *beta2, *one_minus_beta1, *one_minus_beta2, *eps, *weight_decay, *inv_bc1, *inv_bc2,
      *grad_scale;
};
AdamWScalars emit_adamw_scalars(llvm::IRBuilderBase& b, llvm::Value* params);

/// AdamW on `lanes` parameters at element `i`: reads and writes the weight
/// planes, reads grad, takes the old moments as fp32 lanes and returns the
/// new ones (their storage is the caller's). Both emitters share it, so the
/// 8-bit path's weights follow the same operations as the 16/32-bit one.
std::pair<llvm::Value*, llvm::Value*> emit_adamw_lanes(llvm::IRBuilderBase& b, const AdamWScalars& s, llvm::Value* w_hi,
                                                       llvm::Value* w_lo, llvm::Value* grad, llvm::Value* i, int lanes,
                                                       llvm::Value* m_old, llvm::Value* v_old);

}  // namespace horizon::codegen::cpu
