// `--device cpu|cuda|auto`, shared by the commands that can run a step on the
// GPU (train, gradients), so they choose and refuse a device the same way.
#pragma once

#include <string>

namespace horizon::cli {

/// "cpu" or "cuda" for `--device requested` of `command`: auto is cuda where
/// this build has the CUDA backend and a device answers, else cpu. UserError
/// naming `command` for an unknown value, or for cuda without a usable
/// device or without the CUDA backend (the message says why and to use
/// --device cpu).
std::string resolve_device(const std::string& command, const std::string& requested);

}  // namespace horizon::cli
