// The CUDA source generators for every op that is not a GEMM, forward and
// backward, one family per file: norm_kernels.cpp, rope_kernels.cpp,
// attention_forward.cpp / attention_backward.cpp (attention_tc_*.cpp on
// tensor cores), embedding_kernels.cpp, loss_kernels.cpp,
// loss_chunk_kernels.cpp, column_sum_kernels.cpp, elementwise_kernels.cpp,
// optimizer_kernels.cpp.
//
// Each returns a KernelSource specialized to its shapes. Its `inputs` and
// `outputs` follow the IR op's operand and result order (ir/ops.def), and its
// math is that of the CPU kernel of the same name (runtime/cpu/kernels.h),
// which the GPU tests compare against. Names follow the model's math: N rows
// (B*S), C channels, B batch, S sequence, H heads, KVH key/value heads, D head
// dim, V vocabulary, P position-table rows. Activations and gradients are
// fp32; weights (norm scales and biases, embedding and position tables,
// biases) are fp32 or bf16 as the IR types them, widened to fp32 on load;
// every accumulation is fp32 or wider. Reductions across rows (dw, db, the
// embedding scatter-add, the mean loss) run in a fixed order: same inputs,
// same bits. Generators throw std::invalid_argument for shapes they cannot
// serve, naming the generator and the shape.
#pragma once

#include <cstdint>
#include <vector>

#include "codegen/cpu/cpu_jit.h"
#include "codegen/cuda/kernel_source.h"
#include "ir/rope.h"
#include "ir/types.h"

namespace horizon::codegen::cuda {

// ---- normalization over the last dim; x, y: [N, C] ----
/// inputs x, w; output y.
KernelSource rms_norm_forward(int64_t N, int64_t C, float eps, ir::DType w);
/// inputs dy, x, w; outputs dx, dw (dw summed over rows in a fixed order).
KernelSource rms_norm_backward(int64_t N, int64_t C, float eps, ir::DType w);
/// inputs x, w, b; output y.
KernelSource layer_norm_forward(int64_t N, int64_t C, float eps, ir::DType w, ir::DType b);
/// inputs dy, x, w; outputs dx, dw, db.
KernelSource layer_norm_backward(int64_t N, int64_t C, float eps, ir::DType w);

// ---- rotary embedding, Hugging Face rotate-half layout; x: [B, S, H*D] ----
using RopeParams = ir::RopeParams;
/// The D/2 inverse frequencies (ir/rope.h, shared with the CPU kernels); the
/// kernels bake them in as double constants.
using ir::rope_inv_freq;
/// input x (and, with `positions`, each row's position i32[B*S]: packed
/// documents); output y (may alias x).
KernelSource rope_forward(int64_t B, int64_t S, int64_t H, int64_t D, const RopeParams& p, bool positions = false);
/// input dy (and positions); output dx (the inverse rotation; may alias dy).
KernelSource rope_backward(int64_t B, int64_t S, int64_t H, int64_t D, const RopeParams& p, bool positions = false);

// ---- causal grouped-query attention; q: [B, S, H*D], k, v: [B, S, KVH*D] ----
struct AttentionShape {
  int64_t B = 1, S = 1, H = 1, KVH = 1, D = 64;
  int64_t window = 0;  // > 0: query i sees keys i - window < j <= i (Mistral)
  /// Packed documents: one more input, segment ids i32[B*S] (non-decreasing
  /// along a row); a query sees only keys of its own document. Tensor-core
  /// kernels only (head dims 64 and 128).
  bool segments = false;
};
/// inputs q, k, v; output out. Flash-style: key tiles through shared memory
/// with an online softmax; no S x S buffer exists.
KernelSource attention_forward(const AttentionShape& a);
/// inputs dout, q, k, v; outputs dq, dk, dv. Recomputes the log-sum-exp and
/// delta = dout . out per query (a workspace), then dq per query tile and
/// dk, dv per key tile, each owned by one block (no atomics).
KernelSource attention_backward(const AttentionShape& a);

// ---- the same attention on tensor cores: bf16 operands, fp32 softmax and
// accumulation (attention_tc_forward.cpp, attention_tc_backward.cpp); head
// dims 64 and 128. Same inputs, outputs and source names as the fp32
// kernels above, which stay the reference ----
/// Whether attention_forward_tc / attention_backward_tc serve `a`.
bool attention_tc_supported(const AttentionShape& a);
/// inputs q, k, v; output out.
KernelSource attention_forward_tc(const AttentionShape& a);
/// inputs dout, q, k, v; outputs dq, dk, dv. Rounds the inputs to bf16
/// copies, reruns the forward for the log-sum-exp and delta, then dq per
/// query tile and dk, dv per key tile and query head, the heads of a kv
/// head summed in order (each block owns what it writes: fixed bits).
KernelSource attention_backward_tc(const AttentionShape& a);
/// Queries per block and threads of the forward's tile loop, which the
/// backward's statistics pass shares.
inline constexpr int kAttentionTcRows = 64, kAttentionTcThreads = 128;
/// Threads per block of attention_round_bf16, which writes bf16 copies of
/// the inputs.
inline constexpr int kAttentionTcRoundThreads = 256;
/// The shape constants and the device code both directions share
/// (attention_tc_common.cpp): attention_round_bf16, whose first `round_q`
/// tensors have q's size, and the forward's tile loop. Throws
/// std::invalid_argument naming `name` for shapes not served.
SourceBuilder attention_tc_source(const char* name, const AttentionShape& a, int round_q);

// ---- embeddings ----
/// inputs tokens i32[N], table[V, C]; output y[N, C]. Tokens must lie in [0, V).
KernelSource embedding_forward(int64_t N, int64_t C, int64_t V, ir::DType table);
/// inputs dy[N, C], tokens; output dtable[V, C] (written whole). Each block
/// owns a range of table rows and adds the dy rows of its tokens in order.
KernelSource embedding_backward(int64_t N, int64_t C, int64_t V);
/// inputs x[B, S, C], table[P, C]; output y = x + table[s].
KernelSource add_positions_forward(int64_t B, int64_t S, int64_t C, int64_t P, ir::DType table);
/// input dy; output dtable[P, C]: rows s < S sum dy over b, the rest zero.
KernelSource add_positions_backward(int64_t B, int64_t S, int64_t C, int64_t P);

// ---- loss: mean over rows whose target >= 0 ----
/// inputs logits[N, V], targets i32[N]; output loss f32[] (0 with no target).
KernelSource cross_entropy_forward(int64_t N, int64_t V);
/// inputs logits, targets; output dlogits of the mean loss.
KernelSource cross_entropy_backward(int64_t N, int64_t V);

// ---- preference training (DPO): rows 2k, 2k+1 are pair k's chosen and rejected ----
struct DpoKernelParams {
  double beta = 0.1, label_smoothing = 0.0;
  bool ipo = false;
};
/// inputs logits[B*S, V], targets i32[B*S]; output y[B]: each row's sum (mean
/// with `average`) of log softmax at its targets >= 0.
KernelSource sequence_logprob_forward(int64_t B, int64_t S, int64_t V, bool average);
/// inputs dy[B], logits, targets; output dlogits.
KernelSource sequence_logprob_backward(int64_t B, int64_t S, int64_t V, bool average);
/// inputs policy[B], reference[B]; output loss f32[]: TRL's pair losses
/// summed over the workspace `count` (filled with B/2 by the first launch).
KernelSource dpo_loss_forward(int64_t B, const DpoKernelParams& p);
/// inputs policy, reference; outputs dpolicy[B], dreference[B]; workspace count as above.
KernelSource dpo_loss_backward(int64_t B, const DpoKernelParams& p);

// ---- the lm head fused with the loss (linear_cross_entropy[_grad]) ----
// The loss over logits that cuBLASLt GEMMs make `rows` rows (one chunk) at a
// time (loss_chunk_kernels.cpp): inputs logits[rows, V] (a chunk), targets
// i32[N]; outputs loss f32[] and, for the gradient, dlogits bf16[rows, V] of
// the chunk, scaled by the count over all N rows; workspaces row_loss
// (double[N]) and count. Launches, by index: kLossChunkStart once (zero the
// row losses, count the targets), kLossChunkRows once per chunk, one block
// per row — the executor advances row_loss and targets to the chunk's first
// row and sets the grid to the chunk's rows, so as listed the launches
// compute the first chunk — then kLossChunkMean once (the ordered mean).
inline constexpr int kLossChunkStart = 0, kLossChunkRows = 1, kLossChunkMean = 2;
KernelSource linear_cross_entropy_forward(int64_t N, int64_t V, int64_t rows);
KernelSource linear_cross_entropy_backward(int64_t N, int64_t V, int64_t rows);

// ---- reductions ----
/// input dy[N, O]; output db[O], the sum over rows.
KernelSource bias_add_grad(int64_t N, int64_t O);

// ---- fused elementwise groups (passes/fuse_elementwise) ----
/// The program over [rows, cols]: inputs in program order (a row-broadcast
/// input has `cols` elements), then outputs. `input_types` gives each input's
/// dtype (empty: all f32). Loads and stores are 16 bytes wide when
/// cols % 4 == 0. An output may be the same buffer as an input.
KernelSource elementwise(const cpu::ElementwiseProgram& program, int64_t rows, int64_t cols,
                         const std::vector<ir::DType>& input_types = {});

// ---- the optimizer on the GPU (optimizer_kernels.cpp) ----
// Unlike the op kernels above these take scalars by value (an element count,
// the AdamW step, spans), so their sources list no buffers or launches:
// runtime/cuda/device_optimizer.cpp launches them. No alignment is required.
inline constexpr int kAdamwThreads = 256;
/// adamw_update(long long n, u16* w_hi, u16* w_lo, Moment* m, Moment* v,
/// const float* grad, AdamWParams p), one 1-D grid of kAdamwThreads-thread
/// blocks of any size (grid-stride): the CPU JIT's AdamW step
/// (cpu::AdamWFn), bit for bit against a JIT that fuses its multiply-adds.
/// Moment is bf16 bits or float by `moments`.
/// For MomentType::q8 the source is instead adamw_update_blockwise(long long
/// n, u16* w_hi, u16* w_lo, u8* m, u8* v, float* m_scale, float* v_scale,
/// const float* grad, AdamWParams p) on a 1-D grid (any size, block-stride)
/// of kAdamwBlockwiseThreads-thread blocks, one quantization block each: the
/// CPU JIT's BlockwiseAdamWFn, byte for byte.
KernelSource adamw_update(cpu::MomentType moments);
inline constexpr int kAdamwBlockwiseThreads = 256;

/// Blocks per span and threads per block of sum_squares_partial; at most
/// kSumSquaresMaxSpans spans fit the kernel parameters.
inline constexpr int kSumSquaresThreads = 256, kSumSquaresBlocks = 1024, kSumSquaresMaxSpans = 255;
/// out[k] = sum over i < elements[k] of double(x[offset[k] + i])^2 for K <=
/// max_spans spans, in two launches: sum_squares_partial(double* partial,
/// const float* x, Spans spans) on grid (kSumSquaresBlocks, K), where Spans
/// is `long long offset[max_spans], elements[max_spans]` by value, then
/// sum_squares_total(double* out, const double* partial) on grid K. Workspace
/// 0 is `partial`. The bits depend only on the values. Throws
/// std::invalid_argument for max_spans outside [1, kSumSquaresMaxSpans].
KernelSource sum_squares(int max_spans);

// ---- the cast of bf16 gradient offload (gradient_cast_kernels.cpp) ----
inline constexpr int kGradientCastThreads = 256;
/// gradient_to_bf16_pairs(long long n, float* g), a 1-D grid of
/// kGradientCastThreads-thread blocks of any size (grid-stride): g's n fp32
/// gradients cast in place to bf16 (nearest even) in the pair layout of
/// support/bf16_gradient.h, the first bf16_pair_bytes(n) bytes of g.
/// Launched by runtime/cuda/gradient_cast.cpp; no alignment beyond float's.
KernelSource gradient_to_bf16_pairs();

}  // namespace horizon::codegen::cuda
