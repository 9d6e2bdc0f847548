// A model's weights on disk as Hugging Face stores them: one safetensors file,
// or shards named by model.safetensors.index.json ({"metadata": {"total_size":
// N, ...}, "weight_map": {tensor: shard file}}). WeightFiles opens either form
// and checks the index against the shards' own headers before any tensor is
// read, so a missing shard, a shard missing a tensor or a tensor stored twice
// is reported with the file and the tensor, not found halfway through a load.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "frontend/safetensors.h"

namespace horizon::frontend {

struct SafetensorsIndex {
  std::string path;
  std::map<std::string, std::string> weight_map;  // tensor name -> shard file name (relative to the index)
  std::optional<uint64_t> total_size;             // metadata.total_size, when given
  /// The shard file names in the order they are read (sorted: model-00001-of-N first).
  std::vector<std::string> shards() const;
};

/// Parses an index document; `path` names it in errors. UserError for JSON
/// errors, a missing or non-object weight_map, a shard name that is not a
/// plain file name (no '/' or '..'), a tensor listed twice, a bad total_size.
SafetensorsIndex parse_safetensors_index(const std::string& text, const std::string& path);
SafetensorsIndex read_safetensors_index(const std::string& path);

/// One tensor of a WeightFiles: which shard holds it and its header entry.
struct WeightLocation {
  int shard = -1;
  const SafetensorsEntry* entry = nullptr;
};

class WeightFiles {
 public:
  /// `path`: a model directory (model.safetensors, else the index), an index
  /// file, or a safetensors file. Every shard is mapped (no data read yet) and
  /// validated. UserError naming the directory/file, the tensor and the fix.
  static WeightFiles open(const std::string& path);

  /// The path as given (for messages: "initialized from PATH").
  const std::string& source() const { return source_; }
  /// The index file, or "" for a single safetensors file.
  const std::string& index() const { return index_; }
  size_t shard_count() const { return shards_.size(); }
  const std::string& shard_path(int shard) const { return shard_paths_[static_cast<size_t>(shard)]; }
  /// The mapped shard; UserError if it was released.
  const SafetensorsFile& shard(int shard) const;
  /// Unmaps a shard once its tensors are read, so its pages leave the process.
  void release(int shard) { shards_[static_cast<size_t>(shard)].reset(); }

  /// Where `name` is stored, or nullopt.
  std::optional<WeightLocation> find(const std::string& name) const;
  /// Every tensor name, sorted.
  std::vector<std::string> names() const;

 private:
  std::string source_, index_;
  std::vector<std::string> shard_paths_;
  std::vector<std::optional<SafetensorsFile>> shards_;
  std::map<std::string, int> shard_of_;
};

}  // namespace horizon::frontend
