// `horizon plan --largest`: the deepest model of a given width (MODEL's, or
// --width) that fits a machine, found by lowering and planning candidates.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "ir/module.h"

namespace horizon::cli {

struct LargestModel {
  int64_t layers = 0;  // 0: not even one layer fits
  int64_t width = 0;   // hidden size
  int tried = 0;       // candidates planned
};

/// MODEL (a native model file, models/*.json) with `layers` blocks and, when
/// width > 0, hidden = width: heads, kv_heads and intermediate scale with it
/// (head_dim kept; intermediate rounded to a multiple of 256), named
/// "NAME-LxW". UserError for another format or a width that is not a
/// multiple of head_dim.
ir::Module resized_model(const std::string& path, int64_t layers, int64_t width);

/// The most layers in [1, max_layers] for which `fits` (given the lowered
/// candidate) holds, assuming that a model that fits still fits with fewer
/// layers: doubling, then bisection, so about 2 log2(answer) candidates.
LargestModel find_largest_model(const std::string& path, int64_t width, int64_t max_layers,
                                const std::function<bool(const ir::Module&)>& fits);

}  // namespace horizon::cli
