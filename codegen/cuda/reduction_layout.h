// Shared by the generators that reduce along or across rows (norms, bias
// gradient, cross entropy): how one row is spread over a block's threads,
// how rows are grouped for deterministic sums over rows, and the small
// kernel that adds the per-group partial sums in group order.
#pragma once

#include <cstdint>

#include "codegen/cuda/kernel_source.h"

namespace horizon::codegen::cuda {

/// A row of C values held in registers: VEC-wide vectors, THREADS threads,
/// ITEMS vectors each; ROWS rows per block (several only when one warp
/// serves a row, so reductions stay within a warp).
struct RowLayout {
  int vec = 1, threads = 32, items = 1, rows = 1;
};
/// Throws std::invalid_argument naming `generator` when C is out of range.
RowLayout row_layout(int64_t C, const char* generator);
/// Emits VEC, THREADS, ITEMS, ROWS and the `row_sum` helper.
void add_row_layout(SourceBuilder& b, const RowLayout& l);

/// Rows [g * per, (g + 1) * per) form group g; at most 512 groups, so the
/// partial sums stay small while enough blocks run at once.
struct RowGroups {
  int64_t per = 1, groups = 1;
};
RowGroups row_groups(int64_t N);

/// Text of `column_sum(out, partial)`: out[c] = sum over g < SUM_GROUPS of
/// partial[g * SUM_COLS + c], in g order. Needs constants SUM_COLS, SUM_GROUPS.
const char* column_sum_kernel();
Launch column_sum_launch(int64_t cols, Arg out, Arg partial);

}  // namespace horizon::codegen::cuda
