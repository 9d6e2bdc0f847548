// The index parser and the cross-checks between an index and its shards.
#include "frontend/safetensors_index.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "frontend/json_file.h"
#include "frontend/model_dir.h"
#include "support/error.h"

namespace horizon::frontend {
namespace fs = std::filesystem;
namespace {

const char* kIndexFix = "the index does not belong to these shards; download or save the model again";

bool starts_with_brace(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  int c;
  do c = std::fgetc(f);
  while (c == ' ' || c == '\n' || c == '\r' || c == '\t');
  std::fclose(f);
  return c == '{';
}

std::string parent_of(const std::string& path) {
  fs::path p(path);
  return p.has_parent_path() ? p.parent_path().string() : ".";
}

}  // namespace

std::vector<std::string> SafetensorsIndex::shards() const {
  std::set<std::string> names;
  for (const auto& [tensor, shard] : weight_map) names.insert(shard);
  return {names.begin(), names.end()};
}

SafetensorsIndex parse_safetensors_index(const std::string& text, const std::string& path) {
  SafetensorsIndex index;
  index.path = path;
  // A JSON object keeps only the last of two equal keys; the parse callback
  // sees each key, so a tensor listed twice in weight_map is reported.
  std::string top_key, duplicate;
  std::set<std::string> weight_names;
  auto on_event = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    if (event != nlohmann::json::parse_event_t::key) return true;
    const std::string key = parsed.get<std::string>();
    if (depth == 1) top_key = key;
    if (depth == 2 && top_key == "weight_map" && !weight_names.insert(key).second && duplicate.empty())
      duplicate = key;
    return true;
  };
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text, on_event);
  } catch (const nlohmann::json::parse_error&) {
    parse_json_text(text, path);  // rethrows with line and column
    throw;
  }
  if (!duplicate.empty())
    throw_user_error(path, "weight_map." + duplicate, "the tensor is listed twice (in two shards)", kIndexFix);
  if (!doc.is_object()) throw_user_error(path, "", "must be a JSON object", kIndexFix);
  if (!doc.contains("weight_map") || !doc["weight_map"].is_object())
    throw_user_error(path, "weight_map", "missing, or not an object of tensor name -> shard file",
                     "this is not a model.safetensors.index.json; pass the model directory");
  for (const auto& [tensor, shard] : doc["weight_map"].items()) {
    if (!shard.is_string())
      throw_user_error(path, "weight_map." + tensor, "must name a shard file, got " + shard.dump(), kIndexFix);
    std::string file = shard.get<std::string>();
    if (file.empty() || file.find('/') != std::string::npos || file == "." || file == "..")
      throw_user_error(path, "weight_map." + tensor, "shard '" + file + "' is not a file name in the index's folder",
                       kIndexFix);
    index.weight_map[tensor] = file;
  }
  if (doc.contains("metadata")) {
    const auto& meta = doc["metadata"];
    if (!meta.is_object() && !meta.is_null()) throw_user_error(path, "metadata", "must be an object", kIndexFix);
    if (meta.is_object() && meta.contains("total_size")) {
      const auto& total = meta["total_size"];
      // Some writers store it as a float (1.5e10) or a string; any exact non-negative integer is fine.
      if (total.is_number_unsigned())
        index.total_size = total.get<uint64_t>();
      else if (total.is_number_float() && total.get<double>() >= 0 && total.get<double>() < 1.8e19)
        index.total_size = static_cast<uint64_t>(total.get<double>());
      else
        throw_user_error(path, "metadata.total_size", "must be a non-negative number, got " + total.dump(), kIndexFix);
    }
  }
  return index;
}

SafetensorsIndex read_safetensors_index(const std::string& path) {
  return parse_safetensors_index(read_text_file(path, "safetensors index"), path);
}

const SafetensorsFile& WeightFiles::shard(int s) const {
  const auto& f = shards_.at(static_cast<size_t>(s));
  if (!f) throw UserError(shard_paths_[static_cast<size_t>(s)] + ": shard already released");
  return *f;
}

std::optional<WeightLocation> WeightFiles::find(const std::string& name) const {
  auto it = shard_of_.find(name);
  if (it == shard_of_.end()) return std::nullopt;
  return WeightLocation{it->second, &shard(it->second).at(name)};
}

std::vector<std::string> WeightFiles::names() const {
  std::vector<std::string> out;
  for (const auto& [name, s] : shard_of_) out.push_back(name);
  return out;
}

WeightFiles WeightFiles::open(const std::string& path) {
  WeightFiles w;
  w.source_ = path;
  std::error_code ec;
  std::string file = path;
  if (fs::is_directory(path, ec)) {
    ModelDir dir = read_model_dir(path);
    if (!dir.has_weights()) {
      bool loose_shards = false;
      for (const auto& e : fs::directory_iterator(dir.dir, ec))
        if (e.path().extension() == ".safetensors") loose_shards = true;
      throw_user_error(dir.dir, "",
                       loose_shards ? "has .safetensors files but neither model.safetensors nor "
                                      "model.safetensors.index.json naming them"
                                    : "holds no weights (no model.safetensors or model.safetensors.index.json)",
                       loose_shards ? "add the model.safetensors.index.json that came with the shards"
                                    : "put the weights in the directory, or pass --init random to start from random "
                                      "weights");
    }
    file = dir.weights();
  } else if (!fs::exists(path, ec)) {
    throw_user_error(path, "", "no such file or directory",
                     "pass a model directory, a model.safetensors.index.json or a .safetensors file");
  }

  if (!starts_with_brace(file)) {
    w.shard_paths_.push_back(file);
    w.shards_.emplace_back(SafetensorsFile::open(file));
    for (const SafetensorsEntry& e : w.shards_[0]->tensors()) w.shard_of_[e.name] = 0;
    return w;
  }

  // An index: open every shard it names, then check both directions.
  w.index_ = file;
  const SafetensorsIndex index = read_safetensors_index(file);
  const std::string folder = parent_of(file);
  std::map<std::string, int> shard_number;
  for (const std::string& name : index.shards()) {
    std::string shard_path = folder + "/" + name;
    if (!fs::is_regular_file(shard_path, ec)) {
      std::string example;
      for (const auto& [tensor, s] : index.weight_map)
        if (s == name) { example = tensor; break; }
      throw_user_error(file, "weight_map." + example,
                       "names shard '" + name + "', which is not in " + folder,
                       "download the missing shard (every file the index names must be beside it)");
    }
    shard_number[name] = static_cast<int>(w.shard_paths_.size());
    w.shard_paths_.push_back(shard_path);
    w.shards_.emplace_back(SafetensorsFile::open(shard_path));
  }
  for (const auto& [tensor, shard] : index.weight_map) {
    const int s = shard_number.at(shard);
    if (!w.shards_[static_cast<size_t>(s)]->find(tensor))
      throw_user_error(w.shard_paths_[static_cast<size_t>(s)], tensor,
                       "the index lists this tensor in this shard, but the shard does not hold it", kIndexFix);
    w.shard_of_[tensor] = s;
  }
  for (size_t s = 0; s < w.shards_.size(); ++s)
    for (const SafetensorsEntry& e : w.shards_[s]->tensors()) {
      auto it = w.shard_of_.find(e.name);
      if (it == w.shard_of_.end())
        throw_user_error(w.shard_paths_[s], e.name, "the shard holds this tensor, but the index does not list it",
                         kIndexFix);
      if (it->second != static_cast<int>(s))
        throw_user_error(w.shard_paths_[s], e.name,
                         "the tensor is stored in two shards (the index places it in " +
                             w.shard_paths_[static_cast<size_t>(it->second)] + ")",
                         kIndexFix);
    }
  return w;
}

}  // namespace horizon::frontend
