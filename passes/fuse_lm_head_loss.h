// fuse_lm_head_loss: fuses the lm head GEMM with the cross-entropy loss so
// that the [B, S, V] logits (and their gradient) are never materialized:
//
//   %logits = linear(%h, %w); %loss = cross_entropy(%logits, %t)
//     -> %loss = linear_cross_entropy(%h, %w, %t) {chunk = R}
//   ... + %d_logits = cross_entropy_grad(%logits, %t);
//         %d_h = linear_grad_x(%d_logits, %w); %d_w = linear_grad_w(%d_logits, %h)
//     -> %loss, %d_h, %d_w = linear_cross_entropy_grad(%h, %w, %t) {chunk = R}
//
// in every stage where the logits (and d_logits) have no other reader and
// leave no stage. The fused ops run over chunks of R rows: GEMM into a
// [R, V] logits chunk, the loss and d_logits of those rows, then the GEMMs
// of dh and dw (accumulated over chunks); only one chunk exists at a time.
// A tied lm head (the embedding table) is just the operand %w here. Needs:
// autodiff and eliminate_dead_code (it matches the backward ops they leave).
// Returns whether any instruction was fused.
#pragma once

#include <cstdint>

#include "ir/module.h"

namespace horizon::passes {

bool fuse_lm_head_loss(ir::Module& m);

/// Rows per chunk for a vocabulary of `vocab`: the most whose fp32 logits and
/// bf16 d_logits (6 bytes per logit) fit kLossChunkBytes, a multiple of 16
/// (aligned GEMM operand offsets on the GPU), at least 16. Large enough that
/// each chunk's GEMMs still fill the GPU (1392 rows at V = 32000).
int64_t lm_head_chunk_rows(int64_t vocab);
inline constexpr int64_t kLossChunkBytes = int64_t{256} << 20;

}  // namespace horizon::passes
