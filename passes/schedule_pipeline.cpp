#include "passes/schedule_pipeline.h"

#include <algorithm>
#include <cstdlib>
#include <iostream>

#include "ir/schedule.h"
#include "passes/insert_buffer_swap.h"
#include "passes/insert_offload.h"
#include "passes/insert_recompute.h"
#include "passes/lower_to_schedule.h"
#include "passes/place_resident.h"
#include "passes/plan_memory.h"
#include "passes/step_plan.h"
#include "support/error.h"

namespace horizon::passes {
namespace {

struct PlanningPass {
  const char* name;
  bool (*run)(StepPlan&);
};

// The planning passes in order; lower_to_schedule then emits the program.
const std::vector<PlanningPass>& planning_passes() {
  static const std::vector<PlanningPass> passes = {
      {"insert_recompute", insert_recompute},
      {"insert_offload", insert_offload},
      {"insert_buffer_swap", insert_buffer_swap},
      {"plan_memory", plan_memory},
      {"place_resident", place_resident},
  };
  return passes;
}

}  // namespace

std::vector<std::string> schedule_pass_names() {
  std::vector<std::string> names;
  for (const PlanningPass& p : planning_passes()) names.push_back(p.name);
  names.push_back("lower_to_schedule");
  return names;
}

ir::Schedule lower_to_schedule(const ir::Module& graph, const StreamingOptions& options, const std::string& stop_after,
                               std::ostream* log) {
  std::ostream& out = log ? *log : std::cerr;
  std::string dump = std::getenv("HORIZON_DUMP_IR") ? std::getenv("HORIZON_DUMP_IR") : "";
  if (!stop_after.empty()) {
    auto names = schedule_pass_names();
    if (std::find(names.begin(), names.end(), stop_after) == names.end())
      throw UserError("unknown schedule pass '" + stop_after + "'");
  }
  StepPlan plan = make_step_plan(graph, options);
  for (const PlanningPass& p : planning_passes()) {
    p.run(plan);
    if (dump == "all" || dump == p.name || stop_after == p.name) out << "// after " << p.name << "\n" << plan.str();
    if (stop_after == p.name) return ir::Schedule{graph.name, {}, {}, 0, {}, plan.arena_plans};
  }
  ir::Schedule schedule = emit_schedule(plan);
  ir::verify_schedule(schedule);
  if (dump == "all" || dump == "lower_to_schedule") out << "// after lower_to_schedule\n" << ir::print_schedule(schedule);
  return schedule;
}

}  // namespace horizon::passes
