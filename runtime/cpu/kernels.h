// CPU kernels of the non-elementwise ops, forward and backward, in fp32 on
// row-major buffers. Names follow the model's math: N = rows (B*S), C =
// channels, B batch, S sequence, H heads, KVH key/value heads, D head dim,
// V vocab. Every kernel writes all of its outputs (no reliance on zeroed
// memory) unless documented as accumulating ("+="). Kernels parallelize over
// the global ThreadPool and are deterministic: same inputs, same bits.
#pragma once

#include <cstdint>

#include "ir/rope.h"

namespace horizon::cpu {

// ---- linear (OpenBLAS sgemm); weights in Hugging Face layout w[out, in] ----
/// y[N, O] = x[N, I] @ w[O, I]^T
void linear_forward(float* y, const float* x, const float* w, int64_t N, int64_t I, int64_t O);
/// dx[N, I] = dy[N, O] @ w[O, I]
void linear_backward_x(float* dx, const float* dy, const float* w, int64_t N, int64_t I, int64_t O);
/// dw[O, I] = dy[N, O]^T @ x[N, I]  (overwrites dw)
void linear_backward_w(float* dw, const float* dy, const float* x, int64_t N, int64_t I, int64_t O);
/// dw[O, I] += dy[N, O]^T @ x[N, I]
void linear_backward_w_add(float* dw, const float* dy, const float* x, int64_t N, int64_t I, int64_t O);
/// db[O] = sum over rows of dy[N, O]  (overwrites db)
void bias_backward(float* db, const float* dy, int64_t N, int64_t O);

// ---- normalization ----
void rms_norm_forward(float* y, const float* x, const float* w, int64_t N, int64_t C, float eps);
/// dx overwritten; dw overwritten with the sum over rows.
void rms_norm_backward(float* dx, float* dw, const float* dy, const float* x, const float* w, int64_t N, int64_t C,
                       float eps);
void layer_norm_forward(float* y, const float* x, const float* w, const float* b, int64_t N, int64_t C, float eps);
void layer_norm_backward(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w, int64_t N,
                         int64_t C, float eps);

// ---- rotary embedding (Hugging Face rotate-half layout) ----
using RopeParams = ir::RopeParams;
/// x, y: [B, S, H*D]; the position of row (b, s) is positions[b * S + s]
/// (each in [0, S): packed documents restart at 0), or s when null.
void rope_forward(float* y, const float* x, int64_t B, int64_t S, int64_t H, int64_t D, const RopeParams& p,
                  const int32_t* positions = nullptr);
void rope_backward(float* dx, const float* dy, int64_t B, int64_t S, int64_t H, int64_t D, const RopeParams& p,
                   const int32_t* positions = nullptr);
/// The inverse frequencies (D/2 of them) after scaling (ir::rope_inv_freq).
void rope_inv_freq(double* inv_freq, int64_t D, const RopeParams& p);

// ---- causal grouped-query attention; q: [B, S, H*D], k, v: [B, S, KVH*D] ----
/// window > 0 limits each query to the last `window` keys (Mistral); 0 = full causal.
/// segments [B, S], or null for one document per row: the document of each
/// token (non-decreasing along a row); a query sees only keys of its own
/// document, so packed documents never attend to each other.
void attention_forward(float* out, const float* q, const float* k, const float* v, int64_t B, int64_t S, int64_t H,
                       int64_t KVH, int64_t D, int64_t window, const int32_t* segments = nullptr);
/// dq, dk, dv overwritten. Recomputes the softmax from q, k (no saved state).
void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                        const float* v, int64_t B, int64_t S, int64_t H, int64_t KVH, int64_t D, int64_t window,
                        const int32_t* segments = nullptr);

// ---- embeddings ----
/// y[N, C] = table[tokens[n], :]; tokens outside [0, V) are a caller bug (checked by the data layer).
void embedding_forward(float* y, const int32_t* tokens, const float* table, int64_t N, int64_t C);
/// dtable[V, C] overwritten: zero, then += dy rows at their token ids.
void embedding_backward(float* dtable, const float* dy, const int32_t* tokens, int64_t N, int64_t C, int64_t V);
/// y[B, S, C] = x + table[s, :]
void add_positions_forward(float* y, const float* x, const float* table, int64_t B, int64_t S, int64_t C);
/// dtable[P, C] overwritten: rows s < S get sum over b of dy[b, s, :], the rest zero.
void add_positions_backward(float* dtable, const float* dy, int64_t B, int64_t S, int64_t C, int64_t P);

// ---- loss: mean over rows whose target >= 0 (negative targets are masked out) ----
// `count` is what the mean divides by: the targets >= 0 of the whole step
// when these N rows are one micro-batch of it (so the micro-batches' losses
// and gradients add up to the step's mean), or -1 for those of these rows.
/// Returns the mean loss; 0 when no row has a target.
float cross_entropy_forward(const float* logits, const int32_t* targets, int64_t N, int64_t V, int64_t count = -1);
/// dlogits of the mean loss (rows with negative targets get zeros).
void cross_entropy_backward(float* dlogits, const float* logits, const int32_t* targets, int64_t N, int64_t V,
                            int64_t count = -1);
/// Rows whose target is >= 0.
int64_t count_targets(const int32_t* targets, int64_t N);
/// The loss of each row (0 when masked) into row_loss[N] and, unless
/// dlogits is null, each row's gradient of a mean over `count` targets
/// (zeros when masked): the parts both loss kernels above are made of.
void cross_entropy_rows(double* row_loss, float* dlogits, const float* logits, const int32_t* targets, int64_t N,
                        int64_t V, int64_t count);
/// The row losses summed in row order, over `count`; 0 when count is 0.
float mean_loss(const double* row_loss, int64_t N, int64_t count);

// ---- the lm head fused with the loss: h[N, C], w[V, C]; logits = h @ w^T ----
// Computed `chunk` rows at a time (linear_loss_kernels.cpp), so no [N, V]
// buffer exists; the loss is the mean of per-row losses summed in row order,
// whatever the chunk. Chunks whose rows are all masked skip their GEMMs.
/// cross_entropy(linear(h, w), targets).
float linear_cross_entropy_forward(const float* h, const float* w, const int32_t* targets, int64_t N, int64_t C,
                                   int64_t V, int64_t chunk, int64_t count = -1);
/// The same loss (returned), dh[N, C] and dw[V, C] (both overwritten).
float linear_cross_entropy_backward(float* dh, float* dw, const float* h, const float* w, const int32_t* targets,
                                    int64_t N, int64_t C, int64_t V, int64_t chunk, int64_t count = -1);

// ---- preference training (DPO): rows 2k, 2k+1 are pair k's chosen and rejected ----
/// What TRL's DPOTrainer calls loss_type, beta and label_smoothing.
struct DpoLossParams {
  double beta = 0.1, label_smoothing = 0.0;
  bool ipo = false;  // (z - 1/(2 beta))^2 instead of the sigmoid loss
};
/// y[B] = each row's sum over targets >= 0 of log softmax(logits)[target]
/// (with `average`, that sum over the number of such targets; 0 for none).
void sequence_logprob_forward(float* y, const float* logits, const int32_t* targets, int64_t B, int64_t S, int64_t V,
                              bool average);
/// dlogits[B, S, V] (overwritten) of sum_r dy[r] * y[r].
void sequence_logprob_backward(float* dlogits, const float* dy, const float* logits, const int32_t* targets, int64_t B,
                               int64_t S, int64_t V, bool average);
/// The sum over the B/2 pairs of TRL's per-pair loss of
/// z = (policy_c - reference_c) - (policy_r - reference_r), divided by
/// `pairs` (the step's pairs when these rows are one micro-batch; -1: B/2).
float dpo_loss_forward(const float* policy, const float* reference, int64_t B, const DpoLossParams& p,
                       int64_t pairs = -1);
/// Its gradient with respect to policy and reference (either may be null).
void dpo_loss_backward(float* dpolicy, float* dreference, const float* policy, const float* reference, int64_t B,
                       const DpoLossParams& p, int64_t pairs = -1);

// ---- elementwise ops (unfused fallbacks; the JIT fuses chains of these) ----
void add_forward(float* y, const float* a, const float* b, int64_t n);
void mul_forward(float* y, const float* a, const float* b, int64_t n);
void bias_add_forward(float* y, const float* x, const float* bias, int64_t N, int64_t C);
void silu_forward(float* y, const float* x, int64_t n);
void silu_backward(float* dx, const float* dy, const float* x, int64_t n);
void gelu_forward(float* y, const float* x, int64_t n);
void gelu_backward(float* dx, const float* dy, const float* x, int64_t n);

}  // namespace horizon::cpu
