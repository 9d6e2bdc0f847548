// Internal to the loss generators (loss_kernels.cpp, loss_chunk_kernels.cpp):
// the start of every loss kernel source.
#pragma once

#include <cstdint>

#include "codegen/cuda/kernel_source.h"

namespace horizon::codegen::cuda {

/// Threads per block of every loss kernel (one block per row of logits).
inline constexpr int kLossThreads = 256;

/// A source named `name` with the constants N, V, VEC (4 when V % 4 == 0),
/// THREADS and the device functions row_stats (the max of a logits row and
/// the double sum of exp(x - max)) and count_targets (targets >= 0 of N, by
/// one block). Throws std::invalid_argument for N < 1 or V < 1.
SourceBuilder loss_source(const char* name, int64_t N, int64_t V);

}  // namespace horizon::codegen::cuda
