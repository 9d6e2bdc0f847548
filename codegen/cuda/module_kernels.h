// The kernel sources a lowered module needs on the GPU: every non-GEMM
// instruction of every stage (embed, block, head and their backward stages),
// with the fused elementwise groups of passes/fuse_elementwise as one kernel
// each, specialized to a batch and sequence length. `linear*` ops are
// cuBLASLt GEMMs and get no source; a fused lm head loss gets the source of
// its loss kernel, which the executor runs between its chunks' GEMMs. Used
// by `horizon compile --emit=cuda` and by the CUDA stage executor.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "codegen/cuda/kernel_source.h"
#include "ir/module.h"

namespace horizon::codegen::cuda {

/// One kernel source and the stage values it binds.
struct StageKernel {
  std::string stage;
  int first = 0, last = 0;   // instruction range [first, last]; a fused group spans several
  std::string instructions;  // those instructions as IR text, one per line
  // Stage values bound to source.inputs and source.outputs, in order; -1 for
  // a buffer the executor provides (the logits and d_logits chunks of a
  // fused lm head loss, whose GEMMs it runs around the kernel).
  std::vector<int> inputs;
  std::vector<int> outputs;
  KernelSource source;
};

/// Every kernel of every stage of `m` (after passes::lower) at batch B and
/// sequence S, in stage and instruction order. A fused group materializes
/// the values read after it or returned by the stage (as the CPU executor
/// does). Throws a UserError for a model setting the kernels do not support
/// (codegen/cuda/cuda_limits.h), std::invalid_argument naming the stage and
/// instruction when an op has no CUDA generator for its shapes.
std::vector<StageKernel> module_kernels(const ir::Module& m, int64_t batch, int64_t seq);

/// The kernels of one stage, exactly as module_kernels lists them for it
/// (the CUDA stage executor builds one stage at a time).
std::vector<StageKernel> stage_kernels(const ir::Stage& stage, int64_t batch, int64_t seq);

/// The source with a header comment naming the stage, the instructions, the
/// shapes and the launches, as `horizon compile --emit=cuda` prints it.
std::string print_kernel(const StageKernel& k);

}  // namespace horizon::codegen::cuda
