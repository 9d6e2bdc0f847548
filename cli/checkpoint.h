// Checkpoints on disk, composed from the frontend's safetensors and config
// writers and the runtime's host store: what `--save`, `--init`, `--resume`
// and `--weights` read and write.
//   DIR/model*.safetensors     bf16 weights under Hugging Face names (sharded
//                              with an index when large), config.json,
//                              generation_config.json, tokenizer files
//   DIR/optimizer.safetensors  fp32 master weights, AdamW moments, step
#pragma once

#include <string>

#include "cli/model_dir_writer.h"
#include "ir/module.h"
#include "runtime/host_store.h"

namespace horizon::cli {

/// Writes the model directory (cli/model_dir_writer.h: shards, config.json,
/// generation config, tokenizer files of `source`) and optimizer.safetensors
/// into `dir` (created if needed). Each file is replaced atomically.
void save_checkpoint(const std::string& dir, const ir::Module& m, const runtime::HostStore& store,
                     const ModelDirSource& source = {});

/// Sets every stored tensor from weights (cli/weight_loader.h: a model
/// directory, an index or a safetensors file; BF16/F16/F32); moments start
/// at zero. UserError names a missing tensor or a shape mismatch.
void load_weights(const std::string& path, runtime::HostStore& store);

/// Restores master weights, moments and the step count from a directory
/// written by save_checkpoint.
void resume_checkpoint(const std::string& dir, runtime::HostStore& store);

/// `path` itself if it is a file; DIR/model.safetensors if it is a directory.
std::string weights_path(const std::string& path);

}  // namespace horizon::cli
