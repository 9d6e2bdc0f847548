// The report of `horizon plan`: a step's host and GPU memory tables and its
// simulated step, printed the same way whether the schedule was compiled
// from a model by this command or read from a text dump
// (`horizon plan FILE --model MODEL`), so an edited schedule is judged by
// the same numbers as the compiler's own.
#pragma once

#include <string>

#include "codegen/cpu/cpu_jit.h"
#include "ir/module.h"
#include "ir/schedule.h"
#include "plan/machine.h"
#include "plan/memory_table.h"
#include "plan/simulator.h"

namespace horizon::cli {

class Arguments;

/// A step's schedule and its host and GPU memory tables.
struct PlanTables {
  ir::Schedule s;
  plan::MemoryTable host, gpu;
};

/// The tables of `s`, a schedule of `graph`: its buffers by kind, and what
/// the run adds beside them (the 8-bit moments' block scales on the host,
/// the CUDA executor's stage scratch on the GPU where this build has it).
PlanTables plan_tables_of(ir::Schedule s, const ir::Module& graph, const plan::Machine& machine,
                          codegen::cpu::MomentType moments);

/// "GPU memory: the step needs X, the budget is Y" (and the host's), for
/// each table over its budget; "" when both fit.
std::string over_budget(const plan::MemoryTable& host, const plan::MemoryTable& gpu);

/// The report's first lines: model, machine, tokens per step and the
/// schedule's decisions (micro-batches, K, slots, prefetch, resident layers,
/// blocks that keep their activations).
/// `checkpoints_why`, if not empty, follows the checkpoints' place.
void print_plan_summary(const ir::Schedule& s, const ir::Module& graph, const plan::Machine& machine,
                        const std::string& checkpoints_why = "");

/// The model FLOPs of one step of `s` (the trainer's count: 6 per parameter
/// and token, plus attention's 12 * layers * hidden * seq per token).
double model_flops_per_step(const ir::Schedule& s, const ir::Module& graph);

/// The simulated step: time, tokens/s, TFLOPS, busy shares and bottleneck.
plan::SimResult print_step_prediction(const ir::Schedule& s, const ir::Module& graph, const plan::Machine& machine);

/// With a `path` (--trace), writes the simulated step there as a Chrome trace and says so.
void print_trace(const std::string& path, const ir::Schedule& s, const plan::SimResult& r);

/// `horizon plan FILE --model MODEL`: the report of a schedule text dump.
int plan_schedule_file(const Arguments& a);

}  // namespace horizon::cli
