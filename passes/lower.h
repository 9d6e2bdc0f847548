// The compiler pipeline: one list of passes, run in order, each a function
// from IR to IR that reports whether it changed anything. The verifier runs
// after every pass; `--emit=STAGE` stops after a named pass, `--time-passes`
// reports each pass's time, HORIZON_DUMP_IR=all (or a pass name) prints the IR
// after every pass (or that one) to stderr.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include <optional>

#include "ir/module.h"
#include "passes/add_preference_loss.h"

namespace horizon::passes {

struct LowerOptions {
  std::string stop_after;             // pass name; empty runs every pass
  bool time_passes = false;           // print per-pass times to `log`
  std::string dump_ir;                // "all" or a pass name; defaults to $HORIZON_DUMP_IR
  std::ostream* log = nullptr;        // where timings and dumps go (stderr if null)
  /// Rows pack several documents: add_document_inputs runs first (the block
  /// stage reads %positions and %segments).
  bool packed_documents = false;
  /// Preference training: add_preference_loss runs first (the head computes
  /// the DPO loss from a %reference input).
  std::optional<PreferenceLoss> preference;
};

/// Names of the graph passes in pipeline order.
std::vector<std::string> graph_pass_names();

/// Runs the graph pipeline on `m` in place.
void lower(ir::Module& m, const LowerOptions& options = {});

}  // namespace horizon::passes
