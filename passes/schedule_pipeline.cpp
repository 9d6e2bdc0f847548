#include "passes/schedule_pipeline.h"

#include <iostream>
#include <optional>
#include <stdexcept>

#include "ir/schedule.h"
#include "passes/insert_buffer_swap.h"
#include "passes/insert_events.h"
#include "passes/insert_offload.h"
#include "passes/insert_recompute.h"
#include "passes/lower_to_schedule.h"
#include "passes/place_resident.h"
#include "passes/plan_buffer_slots.h"
#include "passes/plan_gpu_checkpoints.h"
#include "passes/plan_kept_activations.h"
#include "passes/plan_memory.h"
#include "passes/plan_offload.h"
#include "passes/plan_recompute.h"
#include "passes/plan_resident.h"
#include "passes/step_plan.h"

namespace horizon::passes {
namespace {

/// The step on its way to a schedule: the plan the planning passes decide,
/// then the schedule lower_to_schedule writes from it, which the last passes
/// rewrite; it is a complete program once insert_events has synchronized it.
struct StepLowering {
  StepPlan plan;
  std::optional<ir::Schedule> schedule;
  bool synchronized = false;
};

Pass<StepLowering> planning(const char* name, bool (*run)(StepPlan&)) {
  return {name, [run](StepLowering& s) { return run(s.plan); }};
}

std::vector<Pass<StepLowering>> pipeline() {
  return {
      planning("plan_memory", plan_memory),
      planning("plan_recompute", plan_recompute),
      planning("plan_offload", plan_offload),
      planning("plan_buffer_slots", plan_buffer_slots),
      planning("plan_resident", plan_resident),
      planning("plan_kept_activations", plan_kept_activations),
      planning("plan_gpu_checkpoints", plan_gpu_checkpoints),
      {"lower_to_schedule",
       [](StepLowering& s) {
         s.schedule = emit_schedule(s.plan);
         return true;
       }},
      {"place_resident", [](StepLowering& s) { return place_resident(s.plan, *s.schedule); }},
      {"insert_recompute", [](StepLowering& s) { return insert_recompute(s.plan, *s.schedule); }},
      {"insert_offload", [](StepLowering& s) { return insert_offload(s.plan, *s.schedule); }},
      {"insert_buffer_swap", [](StepLowering& s) { return insert_buffer_swap(s.plan, *s.schedule); }},
      {"insert_events",
       [](StepLowering& s) {
         s.synchronized = true;
         return insert_events(*s.schedule);
       }},
  };
}

// Before insert_events the schedule is a program in intended order without
// synchronization: every operand must name a byte range of a buffer. (The
// full verifier does not apply before insert_buffer_swap: with deferred
// updates a store bind of the next step races the CPU update of this one,
// which the final schedule orders through the stream_in.)
void verify_unsynchronized(const ir::Schedule& s) {
  for (const ir::SchedInstr& in : s.instrs)
    for (const ir::Operand& op : in.operands) {
      const ir::Range& r = op.range;
      if (r.buffer < 0 || r.buffer >= static_cast<int>(s.buffers.size()) || r.offset < 0 || r.bytes < 0 ||
          r.offset + r.bytes > s.buffers[static_cast<size_t>(r.buffer)].bytes)
        throw std::logic_error("schedule: operand " + op.role + " of `" + ir::print_instr(s, in) +
                               "` lies outside its buffer");
    }
}

const IRHooks<StepLowering> kHooks{
    [](const StepLowering& s) { return s.schedule ? ir::print_schedule(*s.schedule) : s.plan.str(); },
    [](const StepLowering& s) {
      if (!s.schedule)
        verify_step_plan(s.plan);
      else if (s.synchronized)
        ir::verify_schedule(*s.schedule);
      else
        verify_unsynchronized(*s.schedule);
    }};

}  // namespace

std::vector<std::string> schedule_pass_names() {
  std::vector<std::string> names;
  for (const Pass<StepLowering>& p : pipeline()) names.push_back(p.name);
  return names;
}

ir::Schedule lower_to_schedule(const ir::Module& graph, const StreamingOptions& options,
                               const PassOptions& pass_options, StepPlan* decided) {
  check_pass_name(pass_options.stop_after, schedule_pass_names());
  StepLowering s{make_step_plan(graph, options), std::nullopt};
  const bool finished = run_passes("schedule", pipeline(), kHooks, s, pass_options);
  if (decided) *decided = s.plan;
  if (!finished) {
    std::ostream& out = pass_options.stop_output ? *pass_options.stop_output
                        : pass_options.log       ? *pass_options.log
                                                 : std::cerr;
    out << "// after " << pass_options.stop_after << "\n" << kHooks.print(s);
    if (!s.schedule) return ir::Schedule{graph.name, {}, {}, 0, {}, s.plan.arena_plans};
  }
  return std::move(*s.schedule);
}

ir::Schedule lower_to_schedule(const ir::Module& graph, const StreamingOptions& options, const std::string& stop_after,
                               std::ostream* log) {
  PassOptions pass_options;
  pass_options.stop_after = stop_after;
  pass_options.log = log;
  return lower_to_schedule(graph, options, pass_options);
}

}  // namespace horizon::passes
