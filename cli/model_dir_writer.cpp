// The model directory writer: shards, index, config, generation config and
// tokenizer files, each replaced atomically.
#include "cli/model_dir_writer.h"

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "frontend/hf_export.h"
#include "frontend/json_file.h"
#include "frontend/model_dir.h"
#include "frontend/safetensors.h"
#include "support/atomic_file.h"
#include "support/error.h"

namespace horizon::cli {
namespace fs = std::filesystem;
namespace {

void write_text(const std::string& path, const std::string& text, const std::string& what) {
  AtomicFileWriter out(path, what);
  out.write(text);
  out.commit();
}

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  return fs::exists(b, ec) && fs::equivalent(a, b, ec);
}

// transformers names the source in _name_or_path; a directory without the trailing slash.
std::string source_name(const frontend::ModelDir& d) { return d.dir; }

frontend::Json source_config(const ir::Module& m, const std::optional<frontend::ModelDir>& src) {
  if (src && !src->config.empty()) {
    // Every field verbatim: ids, rope_scaling, architectures, quantization or
    // custom keys this engine does not read but a loader may.
    frontend::Json config = frontend::parse_json_file(src->config);
    config["_name_or_path"] = source_name(*src);
    config["torch_dtype"] = "bfloat16";  // what the weights are saved as
    if (config.contains("dtype")) config["dtype"] = "bfloat16";  // transformers >= 4.56 spelling
    return config;
  }
  return frontend::hf_config_from_module(m);
}

frontend::Json generation_config(const frontend::Json& config) {
  frontend::Json g = frontend::Json::object();
  for (const char* key : {"bos_token_id", "eos_token_id", "pad_token_id"})
    if (config.contains(key) && !config[key].is_null()) g[key] = config[key];
  g["_from_model_config"] = true;
  return g;
}

// Weight files an earlier save left that this one does not overwrite: a
// stale index or single file would make loaders read the old weights.
void remove_stale_weights(const std::string& dir, const std::set<std::string>& written) {
  static const std::regex shard(R"(model-\d{5}-of-\d{5}\.safetensors)");
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    const bool weights = name == frontend::kWeightsFile || name == frontend::kWeightsIndexFile ||
                         std::regex_match(name, shard);
    if (weights && !written.count(name)) fs::remove(e.path(), ec);
  }
}

}  // namespace

std::vector<std::vector<int>> split_into_shards(const std::vector<uint64_t>& bytes, uint64_t max_shard_bytes) {
  std::vector<std::vector<int>> shards;
  std::vector<int> current;
  uint64_t current_bytes = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (bytes[i] > max_shard_bytes) {  // alone in its own shard, before the one being filled
      shards.push_back({static_cast<int>(i)});
      continue;
    }
    if (current_bytes + bytes[i] > max_shard_bytes) {
      shards.push_back(std::move(current));
      current.clear();
      current_bytes = 0;
    }
    current.push_back(static_cast<int>(i));
    current_bytes += bytes[i];
  }
  if (!current.empty()) shards.push_back(std::move(current));
  return shards;
}

std::string shard_file_name(int shard, int shards) {
  if (shards == 1) return frontend::kWeightsFile;
  char name[64];
  std::snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", shard + 1, shards);
  return name;
}

uint64_t parse_shard_size(const std::string& text, const std::string& option) {
  std::string upper;
  for (char c : text) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  static const std::vector<std::pair<std::string, uint64_t>> units = {
      {"GIB", 1ull << 30}, {"MIB", 1ull << 20}, {"KIB", 1ull << 10},
      {"GB", 1'000'000'000}, {"MB", 1'000'000}, {"KB", 1'000}, {"", 1}};
  for (const auto& [unit, scale] : units) {
    if (upper.size() <= unit.size() || upper.compare(upper.size() - unit.size(), unit.size(), unit) != 0) continue;
    const std::string digits = text.substr(0, text.size() - unit.size());
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) break;
    uint64_t value = std::stoull(digits) * scale;
    // transformers reads a lowercase final 'b' ("5Gb") as bits.
    if (unit.size() == 2 && text.back() == 'b') value /= 8;
    if (value == 0) break;
    return value;
  }
  throw UserError("horizon: " + option + " must be a size like 5GB, 500MB or 2GiB, got '" + text + "'");
}

void write_model_dir(const std::string& dir, const ir::Module& m, const runtime::HostStore& store,
                     const ModelDirSource& source) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw_user_error(dir, "", "cannot create the model directory: " + ec.message(), "choose a writable path");
  const std::optional<frontend::ModelDir> src =
      source.model_path.empty() ? std::nullopt : frontend::model_dir_of(source.model_path);

  // Weights: the bf16 working planes, in store order (embedding, layers, head).
  const auto& tensors = store.tensors();
  std::vector<uint64_t> bytes;
  uint64_t total = 0;
  for (const auto& t : tensors) {
    bytes.push_back(static_cast<uint64_t>(t.elements) * 2);
    total += bytes.back();
  }
  const auto shards = split_into_shards(bytes, source.max_shard_bytes);
  std::set<std::string> written;
  nlohmann::json weight_map = nlohmann::json::object();
  for (size_t s = 0; s < shards.size(); ++s) {
    const std::string name = shard_file_name(static_cast<int>(s), static_cast<int>(shards.size()));
    std::vector<frontend::SafetensorsTensorRef> refs;
    for (int t : shards[s]) {
      refs.push_back({tensors[static_cast<size_t>(t)].name, ir::DType::bf16, tensors[static_cast<size_t>(t)].shape,
                      store.w_hi(t)});
      weight_map[tensors[static_cast<size_t>(t)].name] = name;
    }
    frontend::write_safetensors(dir + "/" + name, refs, {{"format", "pt"}});
    written.insert(name);
  }
  if (shards.size() > 1) {
    // nlohmann::json sorts keys as json.dumps(sort_keys=True) does; indent 2 and a final newline as transformers.
    nlohmann::json index = {{"metadata", {{"total_parameters", store.parameter_count()}, {"total_size", total}}},
                            {"weight_map", weight_map}};
    write_text(dir + "/" + frontend::kWeightsIndexFile, index.dump(2) + "\n", "safetensors index");
    written.insert(frontend::kWeightsIndexFile);
  }
  remove_stale_weights(dir, written);

  frontend::Json config;
  try {
    config = source_config(m, src);
  } catch (const UserError& e) {
    // Models outside the Llama family have no Hugging Face config; the
    // weights are still saved under their checkpoint names.
    std::fprintf(stderr, "note: no config.json in %s: %s\n", dir.c_str(), e.what());
    return;
  }
  write_text(dir + "/" + frontend::kConfigFile, config.dump(2) + "\n", "Hugging Face config");

  const std::string generation = dir + "/" + frontend::kGenerationConfigFile;
  if (src && !src->generation_config.empty()) {
    if (!same_file(src->generation_config, generation))
      write_text(generation, frontend::read_text_file(src->generation_config, "generation config"),
                 "generation config");
  } else {
    write_text(generation, generation_config(config).dump(2) + "\n", "generation config");
  }
  if (src)
    for (const std::string& file : src->tokenizer_files) {
      const std::string to = dir + "/" + fs::path(file).filename().string();
      if (!same_file(file, to)) write_text(to, frontend::read_text_file(file, "tokenizer file"), "tokenizer file");
    }
}

}  // namespace horizon::cli
