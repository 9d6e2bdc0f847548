// `horizon plan FILE --model MODEL`: the plan of a schedule text dump rather
// than of a schedule compiled here. The dump is parsed and verified as
// `horizon verify` does, then reported as `horizon plan MODEL` reports its
// own schedule: the memory tables come from the dump's buffers and the step
// time from simulating its instructions, so an edit (a buffer more, a
// prefetch less) shows in the figures. The step's shape and decisions are
// the dump's, which is why the options that choose them are refused here;
// nothing is re-planned, so neither the micro-batch search nor the fixes of
// a step that does not fit are offered.
#include <cstdio>
#include <iostream>

#include "cli/arguments.h"
#include "cli/commands.h"
#include "cli/moments_option.h"
#include "cli/plan_report.h"
#include "cli/schedule_file.h"
#include "plan/memory_table.h"
#include "support/error.h"

namespace horizon::cli {
namespace {

// The moment type whose store size is the dump's: --moments if given (an
// error if it disagrees), else the one whose bytes per parameter the store
// holds (bf16 when none does: an edited store).
codegen::cpu::MomentType schedule_moments(const Arguments& a, const ir::Schedule& s, const ir::Module& graph,
                                          const std::string& file) {
  using codegen::cpu::MomentType;
  double store = 0;
  for (const ir::Buffer& b : s.buffers)
    if (b.kind == ir::BufferKind::store) store += static_cast<double>(b.bytes);
  const double params = static_cast<double>(plan::stored_params(graph));
  auto holds = [&](MomentType m) { return store == params * static_cast<double>(store_bytes_per_param(m)); };
  if (a.has("moments")) {
    const MomentType m = parse_moments("plan", a.get("moments"));
    if (!holds(m))
      throw UserError(file + ": the schedule's host store holds " + std::to_string(store / params) +
                      " bytes per parameter, --moments " + a.get("moments") + " stores " +
                      std::to_string(store_bytes_per_param(m)) +
                      "; pass the --moments it was compiled with (or leave it out)");
    return m;
  }
  for (MomentType m : {MomentType::bf16, MomentType::f32, MomentType::q8})
    if (holds(m)) return m;
  return MomentType::bf16;
}

}  // namespace

int plan_schedule_file(const Arguments& a) {
  const std::string file = a.get("MODEL");
  // (--gpus and --hosts too: the per-GPU and per-host shares are planned from the model.)
  for (const char* fixed :
       {"batch", "seq", "micro-batches", "checkpoint-every", "slots", "prefetch", "host-checkpoints", "resident",
        "keep-activations", "early-updates", "grad-offload", "largest", "width", "gpus", "hosts"})
    if (a.has(fixed))
      throw UserError("horizon plan: --" + std::string(fixed) + " does not apply to the schedule dump " + file +
                      ": its config line and instructions fix the step; edit them, or plan the model");
  if (!a.has("model"))
    throw UserError("horizon plan: " + file +
                    " is a schedule dump; pass the model it was compiled from with --model MODEL");
  const ir::Schedule s = load_verified_schedule(file);
  const ir::Module graph = model_of_schedule(s, file, a.get("model"));
  const plan::Machine machine = machine_option(a);
  const PlanTables tables = plan_tables_of(s, graph, machine, schedule_moments(a, s, graph, file));

  std::printf("schedule %s: %zu instructions, verified race-free\n", file.c_str(), s.instrs.size());
  print_plan_summary(s, graph, machine);
  std::cout << plan::format_memory_table(tables.host) << "\n" << plan::format_memory_table(tables.gpu) << "\n";
  if (!tables.host.fits() || !tables.gpu.fits()) {
    std::fflush(stdout);
    throw UserError(file + ": the schedule of " + s.model + " does not fit " + machine.name + ": " +
                    over_budget(tables.host, tables.gpu) +
                    "; shrink its buffers, give --gpu-mem / --host-mem, or plan the model to be offered fixes");
  }
  print_trace(a.get("trace"), s, print_step_prediction(s, graph, machine));
  return 0;
}

}  // namespace horizon::cli
