// The --init rule of horizon train (cli/initial_weights.h).
#include "cli/initial_weights.h"

#include "frontend/model_dir.h"
#include "support/error.h"

namespace horizon::cli {

std::string initial_weights(const std::string& model_path, const std::string& init, bool resuming) {
  if (init == "random") return "";
  if (!init.empty()) return init;
  if (resuming) return "";
  const auto dir = frontend::model_dir_of(model_path);
  if (!dir) return "";
  if (!dir->has_weights())
    throw_user_error(dir->dir, "",
                     "is a Hugging Face model without weights (no model.safetensors or model.safetensors.index.json)",
                     "put the weights in the directory, pass --init PATH to start from other weights, or --init "
                     "random to train from random initialization");
  return dir->dir;
}

}  // namespace horizon::cli
