// The lm head fused with the cross-entropy loss (linear_cross_entropy and its
// gradient) on the GPU: a loop over chunks of rows, never the [N, V] logits.
// Per chunk of R rows:
//
//   logits[R, V] = h_chunk · w^T                (cuBLASLt, bf16 h and w, fp32 out)
//   row losses, d_logits[R, V] in bf16          (the generated loss kernel)
//   dh_chunk = d_logits · w                     (cuBLASLt)
//   dw += d_logits^T · h_chunk                  (cuBLASLt, beta = 1 after the first chunk)
//
// around the loss kernel's start (count the targets of all N rows) and mean
// (ordered sum of the row losses). The logits and d_logits chunks live in
// the op's arena scratch (passes/plan_memory: loss_chunk_scratch), h (and
// w, if fp32) is narrowed to bf16 once like any GEMM operand, and d_logits
// are rounded to bf16 as the unfused GEMMs rounded their fp32 d_logits.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ir/module.h"
#include "ir/schedule.h"
#include "runtime/cuda/gemm.h"

namespace horizon::runtime::cuda {

/// One fused lm head loss instruction, planned.
struct LossChunks {
  bool backward = false;
  int64_t rows = 0, chunk = 0, in = 0, vocab = 0;  // N, R, C, V
  int h = -1, w = -1, targets = -1;                // operands
  int loss = -1, dh = -1, dw = -1;                 // results (dh, dw: backward only)
  int64_t logits = -1, d_logits = -1;              // arena offsets of the chunk buffers
};

/// Plans instruction `instr` of `stage` at batch x seq with its chunk buffers
/// where `plan` put its scratch; appends the GEMM shapes it runs to
/// `shapes`. Throws std::invalid_argument naming the stage and instruction
/// when the plan gives it no (or too little) scratch, or when a chunk is not
/// a multiple of 16 rows (its GEMM operands would lose 16-byte alignment).
LossChunks plan_loss_chunks(const ir::Stage& stage, const ir::ArenaPlan& plan, int instr, int64_t batch, int64_t seq,
                            std::vector<GemmShape>& shapes);

/// The pointers of one run. `kernel(which, first_row, rows)` enqueues launch
/// `which` (codegen kLossChunk*) of the op's loss kernel with its row-indexed
/// buffers (targets, row losses) advanced to `first_row`, over `rows` rows.
struct LossChunkRun {
  const void* h_bf16 = nullptr;  // [N, C]
  const void* w = nullptr;       // bf16 [V, C] (narrowed if stored fp32)
  float* dh = nullptr;           // [N, C]
  float* dw = nullptr;           // [V, C]
  void* logits = nullptr;        // fp32 chunk
  void* d_logits = nullptr;      // bf16 chunk
  bool dw_accumulate = false;    // the first chunk adds into dw too
  std::function<void(int which, int64_t first_row, int64_t rows)> kernel;
};

/// Enqueues the whole op on `stream`; `what` names it in errors.
void enqueue_loss_chunks(const LossChunks& c, const LossChunkRun& run, CublasLtGemm& gemm, cudaStream_t stream,
                         const std::string& what);

}  // namespace horizon::runtime::cuda
