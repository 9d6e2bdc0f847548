// One checkpoint folder, composed from the frontend's safetensors and config
// writers and the runtime's host store: what `--save`, `--init`, `--resume`
// and `--weights` read and write.
//   model*.safetensors, config.json, generation_config.json, tokenizer files
//                                   the model in Hugging Face layout (write_model_files,
//                                   cli/model_dir_writer.h: sharded with an index when large)
//   optimizer.safetensors           fp32 master weights, AdamW moments, step
//   trainer_state.json              step, schedule, data position (cli/checkpoint_state.h)
//   manifest.json                   every file's size and CRC-32C, written last
// The folder of a run (checkpoint-STEP/ folders, lock, metrics.jsonl) is
// cli/run_directory.h's.
#pragma once

#include <string>

#include "cli/checkpoint_state.h"
#include "cli/model_dir_writer.h"
#include "ir/module.h"
#include "runtime/host_store.h"

namespace horizon::cli {

/// The model part of a checkpoint, which transformers loads: the model
/// directory of cli/model_dir_writer.h (bf16 shards, config.json, generation
/// config, the tokenizer files of `source`). The one place that decides the
/// model files' layout.
void write_model_files(const std::string& dir, const ir::Module& m, const runtime::HostStore& store,
                       const ModelDirSource& source);

/// Writes a complete checkpoint into `dir` (created if needed): the model
/// files, optimizer.safetensors, trainer_state.json when `state` is given,
/// and manifest.json last. UserError (and no manifest written) if any
/// master weight is not finite.
void save_checkpoint(const std::string& dir, const ir::Module& m, const runtime::HostStore& store,
                     const TrainingState* state = nullptr, const ModelDirSource& source = {});

/// Sets every stored tensor from weights (cli/weight_loader.h: a model
/// directory, an index or a safetensors file; BF16/F16/F32); moments start
/// at zero. UserError names a missing tensor, a shape mismatch or a
/// non-finite value.
void load_weights(const std::string& path, runtime::HostStore& store);

/// Verifies `dir`'s manifest, then restores master weights, moments and the
/// step. Every tensor's dtype and shape is checked before a byte is copied.
/// Returns trainer_state.json (has_run_state false where there is none).
TrainingState resume_checkpoint(const std::string& dir, runtime::HostStore& store);

/// `path` itself if it is a file; DIR/model.safetensors if it is a directory.
std::string weights_path(const std::string& path);

}  // namespace horizon::cli
