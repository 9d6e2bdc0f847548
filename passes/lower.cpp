#include "passes/lower.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "ir/printer.h"
#include "ir/verifier.h"
#include "passes/add_document_inputs.h"
#include "passes/autodiff.h"
#include "passes/eliminate_dead_code.h"
#include "passes/fuse_elementwise.h"
#include "passes/fuse_lm_head_loss.h"
#include "passes/infer_shapes.h"
#include "support/error.h"

namespace horizon::passes {
namespace {

struct Pass {
  const char* name;
  bool (*run)(ir::Module&);
};

bool verify(ir::Module& m) {
  ir::verify_module(m);
  return false;
}

// The pipeline. Order matters; each pass's header says what it needs first.
const std::vector<Pass>& pipeline() {
  static const std::vector<Pass> passes = {
      {"verify", verify},
      {"infer_shapes", infer_shapes},
      {"autodiff", autodiff},
      {"eliminate_dead_code", eliminate_dead_code},
      {"fuse_elementwise", fuse_elementwise},
      {"fuse_lm_head_loss", fuse_lm_head_loss},
  };
  return passes;
}

}  // namespace

std::vector<std::string> graph_pass_names() {
  std::vector<std::string> names;
  for (const Pass& p : pipeline()) names.push_back(p.name);
  return names;
}

void lower(ir::Module& m, const LowerOptions& options) {
  std::ostream& log = options.log ? *options.log : std::cerr;
  std::string dump = options.dump_ir;
  if (dump.empty() && std::getenv("HORIZON_DUMP_IR")) dump = std::getenv("HORIZON_DUMP_IR");
  if (!options.stop_after.empty()) {
    bool known = false;
    for (const Pass& p : pipeline()) known |= options.stop_after == p.name;
    if (!known) {
      std::string names;
      for (const Pass& p : pipeline()) names += (names.empty() ? "" : ", ") + std::string(p.name);
      throw UserError("unknown pass '" + options.stop_after + "'; passes are: " + names);
    }
  }
  std::vector<Pass> passes = pipeline();
  if (options.packed_documents) passes.insert(passes.begin() + 1, Pass{"add_document_inputs", add_document_inputs});
  if (options.preference) {
    add_preference_loss(m, *options.preference);
    ir::verify_module(m);
    if (dump == "all" || dump == "add_preference_loss") log << "// after add_preference_loss\n" << ir::print_module(m);
  }
  for (const Pass& p : passes) {
    auto start = std::chrono::steady_clock::now();
    bool changed = p.run(m);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    ir::verify_module(m);
    if (options.time_passes) {
      char line[160];
      std::snprintf(line, sizeof line, "pass %-20s %9.3f ms  %s\n", p.name, ms, changed ? "changed" : "unchanged");
      log << line;
    }
    if (dump == "all" || dump == p.name) log << "// after " << p.name << "\n" << ir::print_module(m);
    if (options.stop_after == p.name) return;
  }
}

}  // namespace horizon::passes
