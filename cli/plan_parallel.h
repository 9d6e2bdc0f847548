// `horizon plan --gpus N --hosts H`: the options and the data-parallel
// section of the plan (plan/data_parallel.h holds the arithmetic).
#pragma once

#include <string>

#include "cli/arguments.h"
#include "plan/data_parallel.h"
#include "plan/simulator.h"

namespace horizon::cli {

/// Declares --gpus and --hosts.
void add_parallel_options(Arguments& a);
/// Their values; UserError unless both are positive.
plan::ParallelShape parallel_shape(const Arguments& a);

/// Why a data-parallel step does not fit its per-host or per-GPU budget, and
/// what to change (the one-GPU refusal's offers are single-GPU numbers).
std::string parallel_refusal(const std::string& model, const plan::ParallelShape& shape, const plan::MemoryTable& host,
                             const plan::MemoryTable& gpu);

/// Prints the data-parallel step of `shape` (nothing for one rank): the
/// collectives, the host's shared streaming, the step time and tokens/s.
/// `model_flops` is one GPU's model FLOPs per step.
void print_parallel_step(const ir::Schedule& s, const ir::Module& graph, const plan::Machine& machine,
                         const plan::ParallelShape& shape, const plan::SimResult& one_gpu, double model_flops);

}  // namespace horizon::cli
