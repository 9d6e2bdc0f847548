// Loop and lane helpers shared by the emitters: a loop over [0, n) as whole
// vectors of W lanes followed by a scalar tail, and loads/stores of "lanes"
// elements that are a scalar for one lane and a vector otherwise. Emitters
// write one body generator and call it at both widths. Private to
// codegen/cpu; LLVM types are only forward-declared so this header stays
// LLVM-free.
#pragma once

#include <cstdint>
#include <functional>

namespace llvm {
class IRBuilderBase;
class Type;
class Value;
}  // namespace llvm

namespace horizon::codegen::cpu {

/// Emits one iteration at element index `i` (an i64) over `lanes` lanes.
using LaneBody = std::function<void(llvm::Value* i, int lanes)>;

/// What LLVM's loop passes may do with an emitted loop.
enum class LoopHint {
  none,                    // anything (outer loops)
  no_vectorize,            // already vector code; unrolling allowed
  no_vectorize_or_unroll,  // a scalar tail of fewer than W iterations
};

/// Emits `for (i = begin; i < end; i += step) body(i)` at the builder's insertion
/// point (begin, end: i64). The body may emit nested control flow. Leaves the
/// builder after the loop.
void emit_loop(llvm::IRBuilderBase& b, llvm::Value* begin, llvm::Value* end, int64_t step, LoopHint hint,
               const std::function<void(llvm::Value* i)>& body);

/// Emits body(i, width) for i = 0, width, ... while a whole vector fits in
/// [0, n), then body(i, 1) for the remaining n % width elements. n <= 0 runs
/// nothing. width must be >= 1.
void emit_vector_loop_with_tail(llvm::IRBuilderBase& b, llvm::Value* n, int width, const LaneBody& body);

/// `elem` for one lane, <lanes x elem> otherwise.
llvm::Type* lanes_type(llvm::Type* elem, int lanes);

/// `scalar` broadcast to `lanes` lanes (itself for one lane).
llvm::Value* splat(llvm::IRBuilderBase& b, llvm::Value* scalar, int lanes);

/// Loads base[i .. i+lanes) of `elem`, element-aligned (no alignment assumed beyond the element's).
llvm::Value* load_lanes(llvm::IRBuilderBase& b, llvm::Type* elem, llvm::Value* base, llvm::Value* i, int lanes);

/// Stores `value` (scalar or vector of `elem`) to base[i ..), element-aligned.
void store_lanes(llvm::IRBuilderBase& b, llvm::Type* elem, llvm::Value* value, llvm::Value* base, llvm::Value* i);

}  // namespace horizon::codegen::cpu
