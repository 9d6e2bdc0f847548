// Emits the AdamW step (cpu_jit.h's AdamWFn) over the split fp32 master
// weight as one LLVM function. Private to codegen/cpu.
#pragma once

#include <string>

#include "codegen/cpu/cpu_jit.h"

namespace llvm {
class Module;
}

namespace horizon::codegen::cpu {

/// Adds `void name(i64 n, ptr w_hi, ptr w_lo, ptr m, ptr v, ptr grad, ptr params)`
/// to `module`, vector loops of `width` lanes with a scalar tail.
void emit_adamw_function(llvm::Module& module, MomentType moments, int width, const std::string& name);

}  // namespace horizon::codegen::cpu
