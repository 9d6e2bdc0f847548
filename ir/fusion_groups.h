// Fusion groups of the graph IR: fuse_elementwise marks a run of
// consecutive elementwise instructions with one `group` attribute value,
// and every consumer executes such a run as one step (one generated
// kernel, one JIT program, one arena live range, one memory pass in the
// cost model). This is the one definition of a group and the one iterator
// over them, so the consumers cannot disagree about where a group ends.
#pragma once

#include <vector>

#include "ir/module.h"

namespace horizon::ir {

/// Instructions [first, last] of a stage executed as one step.
struct InstrGroup {
  int first = 0, last = 0;
  /// The run carries a `group` attribute (even a group of one instruction);
  /// false for an instruction outside any group.
  bool fused = false;
  int size() const { return last - first + 1; }
};

/// The stage's instructions partitioned into steps, in order: each maximal
/// run of consecutive instructions with equal `group` attributes, and each
/// instruction without one on its own.
std::vector<InstrGroup> instruction_groups(const Stage& stage);

}  // namespace horizon::ir
