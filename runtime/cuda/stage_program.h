// The host-side plan of one CUDA stage launch, built once per executor and
// without touching the GPU: the stage's instructions as an ordered list of
// steps (a generated kernel, a cuBLASLt GEMM, or the addition of a staged
// gradient into its accumulator), where every pointer of every step comes
// from, and the layout of the executor's scratch memory:
//
//   [bf16 operand 0][bf16 operand 1][kernel workspaces][gradient staging][sink]
//
// GEMM operands that are fp32 activations are narrowed to bf16 into one of
// two operand regions; a region still holding a value from an earlier GEMM
// of the same launch is reused (q, k and v projections read one copy of h).
// Under `accumulate` a gradient is computed into staging and then added to
// its accumulator, except a dw GEMM result nothing else reads, which the
// GEMM adds itself (beta = 1). A fused lm head loss is one step of its own
// (runtime/cuda/loss_chunks.h): GEMMs and its loss kernel over row chunks
// in its arena scratch, h (and an fp32 w) narrowed like GEMM operands.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "codegen/cuda/module_kernels.h"
#include "ir/module.h"
#include "ir/schedule.h"
#include "runtime/cuda/gemm.h"
#include "runtime/cuda/loss_chunks.h"
#include "runtime/cuda/value_homes.h"

namespace horizon::runtime::cuda {

/// Where a kernel argument points: a value of the stage, or the scratch.
struct PointerRef {
  int value = -1;        // >= 0: the value's home in this launch
  int64_t scratch = -1;  // otherwise: this byte offset in the scratch
};

/// A GEMM operand: used in place when bf16, narrowed into scratch when fp32.
struct GemmOperand {
  int value = -1;
  int64_t elements = 0;
  int64_t bf16_offset = -1;  // >= 0: its bf16 copy lives at this scratch offset
  bool convert = false;      // narrow it before this GEMM (false: an earlier GEMM of the launch did)
};

struct Step {
  enum class Kind { kernel, gemm, accumulate, loss_chunks };
  Kind kind = Kind::kernel;
  /// The stage, the instruction(s) and the kernel or GEMM with its shapes.
  std::string what;
  // kernel; loss_chunks: its loss kernel
  int kernel = -1;  // index into StageProgram::kernels
  // gemm; loss_chunks: `a` is h, `b` is w
  GemmShape shape;
  GemmOperand a, b;  // IR operand order
  int result = -1;
  bool beta_into_grad = false;  // under accumulate: the GEMM adds into the gradient itself (loss_chunks: dw)
  // loss_chunks
  LossChunks loss;
  // accumulate (only under DeviceStageBindings::accumulate)
  int grad = -1;  // index into Stage::grads; the value is `result`, staged at StageProgram::staging
  int64_t elements = 0;
};

struct StageProgram {
  std::vector<codegen::cuda::StageKernel> kernels;
  /// Per kernel, per KernelSource::workspaces entry: its scratch offset.
  std::vector<std::vector<int64_t>> workspace_offsets;
  std::vector<ValueHome> homes;  // per value
  /// Per value: scratch offset of its staged copy under accumulate, -1 if none.
  std::vector<int64_t> staging;
  int64_t sink_offset = 0;
  int64_t scratch_bytes = 0;
  std::vector<Step> steps;
  std::vector<GemmShape> gemm_shapes;  // distinct, for CublasLtGemm::prepare
};

/// Builds the program of `stage` at `batch` x `seq` with its transients at
/// `plan`'s offsets. Throws std::invalid_argument naming the stage, the
/// instruction and the value for anything it cannot run.
StageProgram build_stage_program(const ir::Stage& stage, const ir::ArenaPlan& plan, int64_t batch, int64_t seq);

}  // namespace horizon::runtime::cuda
