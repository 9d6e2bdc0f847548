// Where a schedule's bytes go, by what they hold: the host and GPU tables of
// `horizon plan`. The host store is split into its planes by bytes per
// parameter (w_hi, w_lo: 2 + 2; the moments take the rest: 4 with bf16
// moments, 8 with fp32), everything else comes from the buffers' kinds.
#pragma once

#include <string>
#include <vector>

#include "ir/module.h"
#include "ir/schedule.h"

namespace horizon::plan {

struct MemoryLine {
  std::string what;
  double bytes = 0;
  std::string note;  // "2 B/param", "2 x 80.5 MiB", ...
};

struct MemoryTable {
  std::string title;  // "host memory", "GPU memory"
  std::vector<MemoryLine> lines;
  double total = 0;
  double budget = 0;
  bool fits() const { return total <= budget; }
};

/// Host bytes by kind; `graph` gives the parameter count of the store.
MemoryTable host_memory(const ir::Schedule& s, const ir::Module& graph, double budget);
/// GPU bytes by kind.
MemoryTable gpu_memory(const ir::Schedule& s, double budget);

/// The table as aligned text, ending with its total against the budget.
std::string format_memory_table(const MemoryTable& t);

/// `horizon compile --emit=plan`: every buffer, then each stage's arena
/// placements by offset, named with the graph's value names.
std::string format_memory_plan(const ir::Schedule& s, const ir::Module& graph);

/// Parameters the host store holds (tied tensors once).
int64_t stored_params(const ir::Module& graph);

}  // namespace horizon::plan
