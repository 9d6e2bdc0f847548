// What a model directory holds; every lookup is a plain file test, so a
// directory with only a tokenizer, only a config or only weights is described
// as it is and the command that needs the missing part names it.
#include "frontend/model_dir.h"

#include <filesystem>

#include "support/error.h"

namespace horizon::frontend {
namespace fs = std::filesystem;
namespace {

std::string without_trailing_slash(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

bool is_file(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

}  // namespace

const std::vector<std::string>& tokenizer_file_names() {
  static const std::vector<std::string> names = {
      "tokenizer.json",     "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
      "tokenizer.model",    "chat_template.jinja",   "chat_template.json",      "vocab.json",
      "merges.txt",         "vocab.txt"};
  return names;
}

std::string ModelDir::tokenizer_json() const {
  for (const std::string& f : tokenizer_files)
    if (fs::path(f).filename() == kTokenizerFile) return f;
  return "";
}

ModelDir read_model_dir(const std::string& dir_arg) {
  ModelDir d;
  d.dir = without_trailing_slash(dir_arg);
  std::error_code ec;
  if (!fs::is_directory(d.dir, ec))
    throw_user_error(d.dir, "", "not a directory", "pass a Hugging Face model directory (config.json inside)");
  auto present = [&](const char* name) {
    std::string p = d.dir + "/" + name;
    return is_file(p) ? p : std::string();
  };
  d.config = present(kConfigFile);
  d.generation_config = present(kGenerationConfigFile);
  d.weights_file = present(kWeightsFile);
  d.weights_index = present(kWeightsIndexFile);
  for (const std::string& name : tokenizer_file_names())
    if (std::string p = present(name.c_str()); !p.empty()) d.tokenizer_files.push_back(p);
  return d;
}

std::optional<ModelDir> model_dir_of(const std::string& model_path) {
  std::error_code ec;
  if (fs::is_directory(model_path, ec)) return read_model_dir(model_path);
  fs::path p(model_path);
  if (p.filename() == kConfigFile) return read_model_dir(p.has_parent_path() ? p.parent_path().string() : ".");
  return std::nullopt;
}

std::string model_file_of(const std::string& model_path) {
  std::error_code ec;
  if (!fs::is_directory(model_path, ec)) return model_path;
  ModelDir d = read_model_dir(model_path);
  if (d.config.empty())
    throw_user_error(d.dir, kConfigFile,
                     d.tokenizer_json().empty() ? "the directory has no config.json"
                                                : "the directory holds a tokenizer but no config.json",
                     "pass a Hugging Face model directory (config.json, weights, tokenizer files) or a model file");
  return d.config;
}

}  // namespace horizon::frontend
