// Where `horizon train` starts from. A Hugging Face model directory (or its
// config.json) is a trained model: its weights are the start, and a directory
// without weights is refused rather than silently trained from random
// numbers. --init PATH overrides (a directory, an index or a safetensors
// file), --init random asks for random weights explicitly; native model files
// describe a shape only and start random.
#pragma once

#include <string>

namespace horizon::cli {

/// The weights path to load, or "" for random initialization. `init` is the
/// --init value ("" when absent); `resuming`: --resume replaces the weights
/// anyway. UserError (naming the directory and --init random) for a model
/// directory without weights.
std::string initial_weights(const std::string& model_path, const std::string& init, bool resuming);

}  // namespace horizon::cli
