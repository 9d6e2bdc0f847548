// `horizon compile MODEL [--emit=STAGE] [--params]`: runs the compiler and
// prints the IR after the requested stage, or the parameter breakdown.
#include <cstdio>
#include <iostream>

#include "cli/arguments.h"
#include "cli/commands.h"
#include "frontend/model_json.h"
#include "ir/param_count.h"
#include "ir/printer.h"
#include "passes/lower.h"
#include "support/error.h"
#include "support/numbers.h"

namespace horizon::cli {
namespace {

void print_params(const ir::Module& m) {
  ir::ParamSummary sum = ir::summarize_params(m);
  std::printf("model %s: %s parameters, %s at bf16\n\n", m.name.c_str(), format_count(sum.total).c_str(),
              format_bytes(2.0 * static_cast<double>(sum.total)).c_str());
  std::printf("  %-8s %9s %16s %16s %12s\n", "stage", "instances", "per instance", "total", "bf16");
  for (const ir::StageParams& s : sum.stages) {
    std::printf("  %-8s %9lld %16s %16s %12s\n", s.stage.c_str(), static_cast<long long>(s.instances),
                format_count(s.per_instance).c_str(), format_count(s.total).c_str(),
                format_bytes(2.0 * static_cast<double>(s.total)).c_str());
    for (const std::string& t : s.tied) std::printf("           tied: %s (counted once)\n", t.c_str());
  }
  std::printf("  %-8s %9s %16s %16s %12s\n", "total", "", "", format_count(sum.total).c_str(),
              format_bytes(2.0 * static_cast<double>(sum.total)).c_str());
}

}  // namespace

int run_compile(const Args& args) {
  Arguments a("compile", "horizon compile MODEL [--emit=STAGE] [--params] [--time-passes]",
              "Compiles a model description (native model JSON, Hugging Face config.json, or an .hir IR dump)\n"
              "and prints the IR after a stage of the pipeline.");
  a.positional("MODEL", "model file: models/*.json, a Hugging Face config.json, or a .hir dump");
  std::string stages = "ir";
  for (const std::string& p : passes::graph_pass_names()) stages += "|" + p;
  a.option("emit", "STAGE", "what to print: " + stages + " (ir = the graph IR after the whole pipeline)", "ir");
  a.flag("params", "print the parameter count per stage and the bytes at bf16 instead of IR");
  a.flag("time-passes", "print each pass's run time to stderr");
  if (!a.parse(args)) return 0;

  ir::Module m = frontend::load_model(a.get("MODEL"));
  passes::LowerOptions opts;
  opts.time_passes = a.get_flag("time-passes");
  std::string emit = a.get("emit");
  if (emit != "ir") opts.stop_after = emit;
  passes::lower(m, opts);
  if (a.get_flag("params")) {
    print_params(m);
    return 0;
  }
  std::cout << ir::print_module(m);
  return 0;
}

}  // namespace horizon::cli
