#include "runtime/cuda/loss_chunks.h"

#include <algorithm>
#include <stdexcept>

#include "codegen/cuda/kernels.h"
#include "passes/plan_memory.h"

namespace horizon::runtime::cuda {

LossChunks plan_loss_chunks(const ir::Stage& s, const ir::ArenaPlan& plan, int instr, int64_t batch, int64_t seq,
                            std::vector<GemmShape>& shapes) {
  const ir::Instr& in = s.instrs[instr];
  auto fail = [&](const std::string& why) {
    return std::invalid_argument("CUDA stage executor: stage " + s.name + ", instruction " + std::to_string(instr) +
                                 " (" + ir::op_name(in.op) + "): " + why);
  };
  LossChunks c;
  c.backward = in.op == ir::Op::linear_cross_entropy_grad;
  c.h = in.operands[0], c.w = in.operands[1], c.targets = in.operands[2];
  c.loss = in.results[0];
  if (c.backward) c.dh = in.results[1], c.dw = in.results[2];
  const ir::TensorType& h = s.values[c.h].type;
  c.in = h.shape.back().value;
  c.rows = h.elements(batch, seq) / c.in;
  c.vocab = s.values[c.w].type.shape[0].value;
  const passes::LossChunkScratch scratch = passes::loss_chunk_scratch(s, in, batch, seq);
  c.chunk = scratch.rows;
  if (c.chunk < c.rows && c.chunk % 16 != 0)
    throw fail("chunk of " + std::to_string(c.chunk) +
               " rows; use a multiple of 16 so every chunk's GEMM operands "
               "stay 16-byte aligned");
  const int64_t offset = plan.scratch_offset(instr);
  const std::string replan = " (run passes::plan_memory on the same stage, batch and sequence length)";
  if (offset < 0) throw fail("the arena plan gives its logits chunks no scratch" + replan);
  if (plan.scratch_size(instr) < scratch.bytes)
    throw fail("the arena plan gives its logits chunks " + std::to_string(plan.scratch_size(instr)) +
               " bytes, they need " + std::to_string(scratch.bytes) + replan);
  c.logits = offset + scratch.logits;
  if (c.backward) c.d_logits = offset + scratch.d_logits;
  for (int64_t r : {c.chunk, c.rows % c.chunk}) {
    if (r == 0) continue;
    shapes.push_back({GemmForm::linear, r, c.in, c.vocab});
    if (!c.backward) continue;
    shapes.push_back({GemmForm::linear_grad_x, r, c.in, c.vocab});
    shapes.push_back({GemmForm::linear_grad_w, r, c.in, c.vocab});
  }
  return c;
}

void enqueue_loss_chunks(const LossChunks& c, const LossChunkRun& run, CublasLtGemm& gemm, cudaStream_t stream,
                         const std::string& what) {
  using codegen::cuda::kLossChunkMean, codegen::cuda::kLossChunkRows, codegen::cuda::kLossChunkStart;
  const auto* h = static_cast<const char*>(run.h_bf16);
  run.kernel(kLossChunkStart, 0, c.rows);
  for (int64_t r0 = 0; r0 < c.rows; r0 += c.chunk) {
    const int64_t rows = std::min(c.chunk, c.rows - r0);
    const void* h_chunk = h + r0 * c.in * 2;
    auto* logits = static_cast<float*>(run.logits);
    gemm.run({GemmForm::linear, rows, c.in, c.vocab}, h_chunk, run.w, logits, false, stream, what);
    run.kernel(kLossChunkRows, r0, rows);
    if (!c.backward) continue;
    gemm.run({GemmForm::linear_grad_x, rows, c.in, c.vocab}, run.d_logits, run.w, run.dh + r0 * c.in, false, stream,
             what);
    gemm.run({GemmForm::linear_grad_w, rows, c.in, c.vocab}, run.d_logits, h_chunk, run.dw, r0 > 0 || run.dw_accumulate,
             stream, what);
  }
  run.kernel(kLossChunkMean, 0, c.rows);
}

}  // namespace horizon::runtime::cuda
