// Emits a fused elementwise program (cpu_jit.h's ElementwiseProgram) as one
// LLVM function with the ElementwiseFn signature. Private to codegen/cpu.
#pragma once

#include <string>

#include "codegen/cpu/cpu_jit.h"

namespace llvm {
class Module;
}

namespace horizon::codegen::cpu {

/// Throws std::invalid_argument naming the node and the fix when `program`
/// uses an op that is not elementwise, has the wrong operand count, refers to
/// an operand that is not defined before it, or has no outputs.
void validate_elementwise_program(const ElementwiseProgram& program);

/// Adds `void name(i64 rows, i64 cols, ptr ins, ptr outs)` computing a
/// validated `program` to `module`, vector loops of `width` lanes with scalar tails.
void emit_elementwise_function(llvm::Module& module, const ElementwiseProgram& program, int width,
                               const std::string& name);

}  // namespace horizon::codegen::cpu
