// `horizon compile MODEL [--emit=STAGE] [--params]`: runs the compiler and
// prints the IR after the requested stage, or the parameter breakdown. Graph
// stages print the graph IR; schedule stages (a planning pass, `schedule`,
// or `plan` for the buffers and arena offsets) need --batch and --seq and
// take the streaming options of `horizon plan`.
#include <algorithm>
#include <cstdio>
#include <iostream>

#include "cli/arguments.h"
#include "cli/commands.h"
#include "cli/resident_option.h"
#ifdef HORIZON_HAVE_CUDA
#include "codegen/cuda/module_kernels.h"
#endif
#include "frontend/model_json.h"
#include "ir/param_count.h"
#include "ir/printer.h"
#include "ir/schedule.h"
#include "passes/lower.h"
#include "passes/schedule_pipeline.h"
#include "plan/machine.h"
#include "plan/memory_table.h"
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

/// Every generated CUDA kernel of the lowered module, with a header per kernel.
int print_cuda_kernels(const ir::Module& m, int64_t batch, int64_t seq) {
  if (batch < 1 || seq < 1) throw UserError("compile: --batch and --seq must be >= 1");
#ifdef HORIZON_HAVE_CUDA
  for (const codegen::cuda::StageKernel& k : codegen::cuda::module_kernels(m, batch, seq))
    std::cout << codegen::cuda::print_kernel(k) << "\n";
  return 0;
#else
  (void)m;
  throw UserError("compile: --emit=cuda needs a build with the CUDA toolkit (CMake found none)");
#endif
}

bool is_schedule_stage(const std::string& emit) {
  auto names = passes::schedule_pass_names();
  return emit == "schedule" || emit == "plan" || std::find(names.begin(), names.end(), emit) != names.end();
}

int print_schedule_stage(const ir::Module& m, const Arguments& a, const std::string& emit, bool time_passes) {
  const passes::StreamingOptions options = streaming_options(a, "compile", machine_option(a));
  passes::PassOptions pass_options;
  pass_options.time_passes = time_passes;
  if (emit == "schedule") {
    std::cout << ir::print_schedule(lower_for_gpu(m, options, pass_options));
  } else if (emit == "plan") {
    std::cout << plan::format_memory_plan(lower_for_gpu(m, options, pass_options), m);
  } else {
    pass_options.stop_after = emit;
    pass_options.stop_output = &std::cout;  // the step plan or schedule after that pass
    lower_for_gpu(m, options, pass_options);
  }
  return 0;
}

}  // namespace

int run_compile(const Args& args) {
  Arguments a("compile", "horizon compile MODEL [--emit=STAGE] [--batch=B --seq=S] [--params] [--time-passes]",
              "Compiles a model description (native model JSON, Hugging Face config.json, or an .hir IR dump)\n"
              "and prints the IR after a stage of the pipeline.");
  a.positional("MODEL", "model file: models/*.json, a Hugging Face model directory or config.json, or a .hir dump");
  std::string stages = "ir";
  for (const std::string& p : passes::graph_pass_names()) stages += "|" + p;
  stages += "|cuda";
  for (const std::string& p : passes::schedule_pass_names()) stages += "|" + p;
  a.option("emit", "STAGE",
           "what to print: " + stages +
               "|schedule|plan (ir = the graph IR after the whole pipeline; cuda = the generated CUDA kernels;"
               " schedule = the step's schedule IR; plan = its buffers and arena offsets)",
           "ir");
  a.option("batch", "B", "batch size: sequences per step (--emit=schedule|plan|PASS, required) or kernels' (cuda)",
           "1");
  a.option("seq", "S", "sequence length (--emit=schedule|plan|PASS, required; --emit=cuda)", "128");
  add_streaming_options(a, false);
  a.flag("params", "print the parameter count per stage and the bytes at bf16 instead of IR");
  a.flag("time-passes", "print each pass's run time to stderr");
  if (!a.parse(args)) return 0;

  ir::Module m = frontend::load_model(a.get("MODEL"));
  passes::LowerOptions opts;
  opts.time_passes = a.get_flag("time-passes");
  std::string emit = a.get("emit");
  const bool schedule_stage = is_schedule_stage(emit);
  if (emit != "ir" && emit != "cuda" && !schedule_stage) {
    std::vector<std::string> names = passes::graph_pass_names();
    for (const std::string& p : passes::schedule_pass_names()) names.push_back(p);
    for (const char* p : {"ir", "cuda", "schedule", "plan"}) names.push_back(p);
    passes::check_pass_name(emit, names);
    opts.stop_after = emit;
  }
  passes::lower(m, opts);
  if (a.get_flag("params")) {
    print_params(m);
    return 0;
  }
  if (schedule_stage) return print_schedule_stage(m, a, emit, opts.time_passes);
  if (emit == "cuda") return print_cuda_kernels(m, a.get_int("batch"), a.get_int("seq"));
  std::cout << ir::print_module(m);
  return 0;
}

}  // namespace horizon::cli
