// `horizon verify FILE [--model MODEL]`: judges a schedule text dump (from
// `horizon compile --emit=schedule`, perhaps edited by hand) the way the
// compiler judges its own: the parser, then the verifier (no race between
// streams, every read after its write, every layer updated once). With the
// model it was compiled from, the simulator also predicts the step. A
// schedule that fails is refused (exit 1) naming the line or the two
// instructions of a race.
#include <cstdio>

#include "cli/arguments.h"
#include "cli/commands.h"
#include "cli/schedule_file.h"
#include "ir/schedule.h"
#include "plan/machine.h"
#include "plan/simulator.h"
#include "support/error.h"

namespace horizon::cli {

int run_verify(const Args& args) {
  Arguments a("verify", "horizon verify FILE [--model MODEL [--machine FILE]]",
              "Parses a schedule text dump (horizon compile --emit=schedule, edited or not) and proves it race-free\n"
              "with the compiler's verifier; with --model also simulates the step on a machine description.");
  a.positional("FILE", "schedule text, as horizon compile --emit=schedule prints it");
  a.option("model", "MODEL", "the model the schedule was compiled from: also simulate the step");
  a.option("machine", "FILE", "machine description for the simulation (default: built-in H100 PCIe)");
  if (!a.parse(args)) return 0;

  const std::string file = a.get("FILE");
  const ir::Schedule s = load_verified_schedule(file);
  int64_t streams_used = 0;
  bool used[ir::kNumStreams] = {};
  for (const ir::SchedInstr& in : s.instrs) used[static_cast<int>(in.stream)] = true;
  for (bool u : used) streams_used += u ? 1 : 0;
  std::printf("%s: schedule of %s verified: %zu instructions on %lld streams, %d events, no race\n", file.c_str(),
              s.model.c_str(), s.instrs.size(), static_cast<long long>(streams_used), s.events);
  if (!a.has("model")) return 0;
  const ir::Module graph = model_of_schedule(s, file, a.get("model"));
  const plan::Machine machine = a.has("machine") ? plan::load_machine(a.get("machine")) : plan::default_machine();
  const plan::SimResult r = plan::simulate(s, graph, machine);
  std::printf("simulated on %s: step %.4g s, bottleneck %s (busy %.1f %% of the step)\n", machine.name.c_str(),
              r.step_seconds, r.bottleneck.c_str(), 100 * r.bottleneck_share);
  return 0;
}

}  // namespace horizon::cli
