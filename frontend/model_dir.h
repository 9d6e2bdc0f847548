// A Hugging Face model directory as a MODEL argument: config.json, the
// weights (model.safetensors, or shards listed by model.safetensors.index.json),
// the tokenizer files and generation_config.json. This file only says what a
// directory holds; frontend/safetensors_index.h opens the weights and
// cli/model_dir_writer.h writes such a directory.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace horizon::frontend {

inline constexpr const char* kConfigFile = "config.json";
inline constexpr const char* kGenerationConfigFile = "generation_config.json";
inline constexpr const char* kWeightsFile = "model.safetensors";
inline constexpr const char* kWeightsIndexFile = "model.safetensors.index.json";
inline constexpr const char* kTokenizerFile = "tokenizer.json";

/// The files a directory may hold for its tokenizer, in the order they are
/// copied: everything transformers' AutoTokenizer and serving tools read.
const std::vector<std::string>& tokenizer_file_names();

struct ModelDir {
  std::string dir;                           // as given, without a trailing '/'
  std::string config;                        // dir/config.json, or "" when absent
  std::string generation_config;             // dir/generation_config.json, or ""
  std::string weights_file;                  // dir/model.safetensors, or ""
  std::string weights_index;                 // dir/model.safetensors.index.json, or ""
  std::vector<std::string> tokenizer_files;  // full paths of those present (tokenizer_file_names order)

  bool has_weights() const { return !weights_file.empty() || !weights_index.empty(); }
  /// dir/tokenizer.json, or "" when absent.
  std::string tokenizer_json() const;
  /// The weights: model.safetensors where present (transformers' order), else the index; "" when none.
  std::string weights() const { return !weights_file.empty() ? weights_file : weights_index; }
};

/// What `dir` holds. UserError if it is not a readable directory.
ModelDir read_model_dir(const std::string& dir);

/// The model directory a MODEL argument belongs to: the argument itself when
/// it is a directory, the folder of a file named config.json, nothing for a
/// native model file or an IR dump (they have no weights beside them).
std::optional<ModelDir> model_dir_of(const std::string& model_path);

/// The model file a MODEL argument names: DIR/config.json for a directory
/// (UserError naming the directory and the fix when it has none), else the path.
std::string model_file_of(const std::string& model_path);

}  // namespace horizon::frontend
