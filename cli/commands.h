// The `horizon` subcommands. Each takes the arguments after its name and
// returns the process exit code; user errors are thrown as UserError.
#pragma once

#include <string>
#include <vector>

namespace horizon::cli {

using Args = std::vector<std::string>;

int run_compile(const Args& args);
int run_import(const Args& args);
int run_train(const Args& args);
int run_sample(const Args& args);

}  // namespace horizon::cli
