// Where a kept block's saved values lie in its share of %kept (the buffer
// insert_recompute adds for blocks whose activations stay on the GPU, see
// passes/add_kept_stages.h): block.keep writes them after %y and
// block.kept.bwd reads them, in the same order; each starts 256-byte aligned
// like the arena's values, so both the CUDA kernels' vector loads and the
// CPU's are aligned whatever the widths.
#pragma once

#include <cstdint>
#include <vector>

#include "ir/module.h"

namespace horizon::ir {

inline constexpr const char* kKeepStage = "block.keep";
inline constexpr const char* kKeptBackwardStage = "block.kept.bwd";

/// The values a kept stage exchanges through %kept: block.keep's outputs
/// after the first, block.kept.bwd's inputs after `forward_inputs` and before
/// %d_y. Empty for any other stage.
std::vector<int> kept_values(const Stage& s, size_t forward_inputs);

/// Byte offset of each of `values` (f32 or i32, 4 bytes an element) in one
/// micro-batch's share, with the share's size as the last entry.
std::vector<int64_t> kept_value_offsets(const Stage& s, const std::vector<int>& values, int64_t batch, int64_t seq);

}  // namespace horizon::ir
