#include "passes/lower.h"

#include "ir/printer.h"
#include "ir/verifier.h"
#include "passes/add_document_inputs.h"
#include "passes/add_kept_stages.h"
#include "passes/autodiff.h"
#include "passes/eliminate_dead_code.h"
#include "passes/fuse_elementwise.h"
#include "passes/fuse_lm_head_loss.h"

namespace horizon::passes {
namespace {

// The pipeline. Order matters; each pass's header says what it needs first.
std::vector<Pass<ir::Module>> pipeline(bool packed_documents) {
  std::vector<Pass<ir::Module>> passes;
  if (packed_documents) passes.push_back({"add_document_inputs", add_document_inputs});
  passes.push_back({"autodiff", autodiff});
  passes.push_back({"eliminate_dead_code", eliminate_dead_code});
  passes.push_back({"add_kept_stages", add_kept_stages});
  passes.push_back({"fuse_elementwise", fuse_elementwise});
  passes.push_back({"fuse_lm_head_loss", fuse_lm_head_loss});
  return passes;
}

}  // namespace

std::vector<std::string> graph_pass_names() {
  std::vector<std::string> names;
  for (const Pass<ir::Module>& p : pipeline(false)) names.push_back(p.name);
  return names;
}

void lower(ir::Module& m, const LowerOptions& options) {
  // Every pass may assume a well-typed module: the frontends infer types
  // with the op table's shape rules and the verifier checks them on dumps.
  ir::verify_module(m);
  const IRHooks<ir::Module> hooks{[](const ir::Module& mod) { return ir::print_module(mod); },
                                  [](const ir::Module& mod) { ir::verify_module(mod); }};
  std::vector<Pass<ir::Module>> passes = pipeline(options.packed_documents);
  // Preference training replaces the head's loss before autodiff differentiates it.
  if (options.preference)
    passes.insert(passes.begin(), {"add_preference_loss", [loss = *options.preference](ir::Module& mod) {
                                     return add_preference_loss(mod, loss);
                                   }});
  run_passes("graph", passes, hooks, m, options);
}

}  // namespace horizon::passes
