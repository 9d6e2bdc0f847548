// The `horizon` subcommands. Each takes the arguments after its name and
// returns the process exit code; user errors are thrown as UserError.
#pragma once

#include <string>
#include <vector>

namespace horizon::passes {
struct StreamingOptions;
}
namespace horizon::plan {
struct Machine;
}

namespace horizon::cli {

class Arguments;

using Args = std::vector<std::string>;

int run_compile(const Args& args);
int run_import(const Args& args);
int run_train(const Args& args);
int run_sample(const Args& args);
int run_plan(const Args& args);
int run_gradients(const Args& args);
int run_tokenize(const Args& args);
int run_data(const Args& args);
int run_verify(const Args& args);

/// The streaming compiler's options (batch, seq, micro-batches, K, slots,
/// budgets, machine), shared by `plan` and `compile --emit=schedule`;
/// `declare_shape` false leaves --batch and --seq to the caller.
void add_streaming_options(Arguments& a, bool declare_shape = true);
/// The machine of --machine (or the built-in one) with --host-mem / --gpu-mem applied.
plan::Machine machine_option(const Arguments& a);
/// StreamingOptions from the parsed options; UserError names `command`.
passes::StreamingOptions streaming_options(const Arguments& a, const std::string& command, const plan::Machine& m);

}  // namespace horizon::cli
