// The CPU JIT: fused elementwise groups and the AdamW optimizer emitted as
// LLVM IR and compiled with ORC for the host's vector ISA. This header is
// LLVM-free on purpose: only codegen/cpu/*.cpp include LLVM headers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ir/ops.h"

namespace horizon::codegen::cpu {

/// The vector ISA code is generated for. `automatic` picks the best the host has.
enum class Isa { automatic, avx512, avx2, sse };
/// "automatic", "avx512", "avx2" or "sse".
const char* isa_name(Isa isa);
/// The best ISA this host supports (never `automatic`).
Isa host_isa();

/// A DAG of elementwise ops over [rows, cols] fp32 tensors, in SSA order.
/// Operand index k < inputs.size() names input k; k >= inputs.size() names
/// node k - inputs.size().
struct ElementwiseProgram {
  struct Input {
    bool row_broadcast = false;  // a [cols] vector broadcast over rows (bias_add's bias)
  };
  struct Node {
    ir::Op op;  // add, mul, bias_add, silu, gelu, silu_grad, gelu_grad
    std::vector<int> operands;
  };
  std::vector<Input> inputs;
  std::vector<Node> nodes;
  std::vector<int> outputs;  // node indices written to memory, in order

  /// Stable text key: equal programs share one compiled function.
  std::string key() const;
};

/// Computes rows [0, rows) of the program; ins[i] and outs[j] point at row 0
/// of each tensor (row stride = cols; a row-broadcast input has one row).
/// An output may be the same buffer as an input (in place); partial overlap
/// is not supported. No alignment is required.
using ElementwiseFn = void (*)(int64_t rows, int64_t cols, const float* const* ins, float* const* outs);

/// Moments stored as bf16 (8 bytes/param with the split master), fp32 (12),
/// or 8-bit codes with a scale per block (q8: 6, support/moment_quantization.h).
enum class MomentType { bf16, f32, q8 };
/// The name `--moments` takes: "bf16", "f32" or "8bit".
const char* moment_type_name(MomentType t);
/// Bytes per element of one moment plane (the q8 scales come on top).
int moment_plane_bytes(MomentType t);

struct AdamWParams {
  float lr = 1e-3f, beta1 = 0.9f, beta2 = 0.95f, eps = 1e-8f, weight_decay = 0.0f;
  float bias_correction1 = 1.0f;  // 1 - beta1^t
  float bias_correction2 = 1.0f;  // 1 - beta2^t
  float grad_scale = 1.0f;        // multiplies the gradient first (clipping, accumulation averaging)
};

/// One AdamW step over n parameters. The fp32 master weight is split into two
/// planes of 16 bits as support/bf16.h split_master does: w_hi (the bf16
/// weight, rounded to nearest) and w_lo (the lower half of the fp32 bits,
/// whose top bit marks the rounding carry). m and v are bf16 (uint16)
/// or fp32 by MomentType; bf16 moments are stored rounded to nearest even
/// (NaN stays NaN). Any sub-range [i, i+k) may be updated by passing
/// offset pointers and k, which is how callers split n across threads.
using AdamWFn = void (*)(int64_t n, uint16_t* w_hi, uint16_t* w_lo, void* m, void* v, const float* grad,
                         const AdamWParams* params);

/// One AdamW step with 8-bit moments (MomentType::q8): m and sqrt(v) are one code
/// per element, m_scale and v_scale one fp32 per block of kMomentBlock
/// elements (support/moment_quantization.h). Each block is decoded, updated
/// as AdamWFn updates (same operations on the weights), and encoded again
/// with its new largest magnitude as the scale. n need not be a multiple of
/// the block, but a sub-range must start at a block boundary of its tensor
/// (pass offset pointers and the matching scale pointers), and only the
/// tensor's last block may be partial.
using BlockwiseAdamWFn = void (*)(int64_t n, uint16_t* w_hi, uint16_t* w_lo, uint8_t* m, uint8_t* v, float* m_scale,
                                  float* v_scale, const float* grad, const AdamWParams* params);

class CpuJit {
 public:
  /// One JIT per process and ISA; thread-safe. Throws std::runtime_error
  /// naming the ISA when this host cannot run it.
  static CpuJit& get(Isa isa = Isa::automatic);
  ~CpuJit();

  Isa isa() const;
  /// The compiled program, cached by program.key(): equal programs return the
  /// same pointer. Throws std::invalid_argument for an op the JIT does not fuse
  /// or a malformed program. The pointer stays valid for the process.
  ElementwiseFn elementwise(const ElementwiseProgram& program);
  /// The compiled AdamW step for `moments` (bf16 or f32), cached. Throws
  /// std::invalid_argument for q8, whose step is adamw_blockwise().
  AdamWFn adamw(MomentType moments);
  /// The compiled AdamW step for 8-bit moments, cached.
  BlockwiseAdamWFn adamw_blockwise();

  /// The optimized LLVM IR of what the functions above compile, for --emit=llvm.
  std::string elementwise_llvm_ir(const ElementwiseProgram& program);
  std::string adamw_llvm_ir(MomentType moments);

 private:
  explicit CpuJit(Isa isa);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace horizon::codegen::cpu
