// Shared by the attention generators: how a tile of query (or key) rows maps
// onto a block, and the device code both directions use (tile loads into
// shared memory, per-thread slices of a head row, the causal/window mask and
// the online-softmax loop of the forward, which the backward reruns to
// recover each query's log-sum-exp).
#pragma once

#include "codegen/cuda/kernel_source.h"
#include "codegen/cuda/kernels.h"

namespace horizon::codegen::cuda {

/// TPR threads share one query (or key) row, each holding D / TPR of its
/// channels in registers (VEC-wide vectors); a block serves BQ = BK rows, so
/// 128 threads, and stages BK x D tiles through static shared memory.
struct AttentionLayout {
  int tpr = 4, vec = 4, rows = 32;
};
/// Throws std::invalid_argument naming `generator` for shapes not served
/// (D not a multiple of 4 or above 256, H not a multiple of KVH, ...).
AttentionLayout attention_layout(const AttentionShape& a, const char* generator);

/// The constants (B, S, H, KVH, D, WINDOW, SCALE, layout) and the shared
/// device code; the caller appends its kernels.
SourceBuilder attention_source(const char* name, const AttentionShape& a, const AttentionLayout& l);

}  // namespace horizon::codegen::cuda
