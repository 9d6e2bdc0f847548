// The graph pipeline: one list of passes, run in order by the pass manager
// (passes/pass_manager.h), each a function from IR to IR that reports
// whether it changed anything. The input is verified first, and the
// verifier runs after every pass that changed the module when
// PassOptions::verify_each is on (debug builds and tests), else once at the
// end. `--emit=STAGE` stops after a named pass, `--time-passes` reports
// each pass's time, HORIZON_DUMP_IR=all (or a pass name) prints the IR
// after every pass (or that one) to stderr.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include <optional>

#include "ir/module.h"
#include "passes/add_preference_loss.h"
#include "passes/pass_manager.h"

namespace horizon::passes {

struct LowerOptions : PassOptions {
  /// Rows pack several documents: add_document_inputs runs first (the block
  /// stage reads %positions and %segments).
  bool packed_documents = false;
  /// Preference training: add_preference_loss runs first (the head computes
  /// the DPO loss from a %reference input).
  std::optional<PreferenceLoss> preference;
};

/// Names of the graph passes in pipeline order (add_document_inputs, which
/// runs first for packed documents only, is not among them).
std::vector<std::string> graph_pass_names();

/// Runs the graph pipeline on `m` in place.
void lower(ir::Module& m, const LowerOptions& options = {});

}  // namespace horizon::passes
