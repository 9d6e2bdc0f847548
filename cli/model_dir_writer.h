// Writing a Hugging Face model directory, as transformers' save_pretrained
// does, so transformers and serving tools load what Horizon trained:
//   model.safetensors, or model-00001-of-0000N.safetensors shards of at most
//     max_shard_bytes (split as huggingface_hub's split_state_dict_into_shards
//     splits: in tensor order, a new shard when the next tensor would overflow,
//     a tensor larger than the limit alone) + model.safetensors.index.json
//     ({"metadata": {"total_parameters", "total_size"}, "weight_map"}, sorted keys)
//   config.json: the source's, every field kept, torch_dtype "bfloat16" and
//     _name_or_path the source; for a native model file the exported config
//   generation_config.json: the source's, else bos/eos ids from the config
//   the tokenizer files of the source directory, copied
// The weights are the bf16 working planes, written in place (no copy of the model).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/module.h"
#include "runtime/host_store.h"

namespace horizon::cli {

/// transformers' default and huggingface_hub's MAX_SHARD_SIZE.
inline constexpr uint64_t kDefaultMaxShardBytes = 5'000'000'000;

struct ModelDirSource {
  /// The MODEL argument the module came from: a model directory or config.json
  /// (its config, generation config and tokenizer files are carried over), or
  /// a native model file ("" when unknown).
  std::string model_path;
  uint64_t max_shard_bytes = kDefaultMaxShardBytes;
};

/// Writes the model directory `dir` (created if needed). Every file is
/// written atomically; weight files of an earlier save that the new one does
/// not replace (other shard counts, the index of a sharded save) are removed.
void write_model_dir(const std::string& dir, const ir::Module& m, const runtime::HostStore& store,
                     const ModelDirSource& source);

/// The shards huggingface_hub makes of tensors of `bytes` in this order:
/// lists of indices into `bytes`.
std::vector<std::vector<int>> split_into_shards(const std::vector<uint64_t>& bytes, uint64_t max_shard_bytes);

/// "model.safetensors" for one shard, else "model-00002-of-00003.safetensors".
std::string shard_file_name(int shard, int shards);

/// "5GB" (10^9), "500MB", "2GiB" (2^30), "100KB", "123" (bytes), as
/// transformers reads max_shard_size. UserError naming `option` otherwise.
uint64_t parse_shard_size(const std::string& text, const std::string& option = "--max-shard-size");

}  // namespace horizon::cli
