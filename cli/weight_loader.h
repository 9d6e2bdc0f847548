// Loading a model's weights (frontend/safetensors_index.h: one file or
// shards) into the host store's split master. Shard by shard: every tensor of
// a shard is converted (BF16, F16 or F32 on disk) straight from the mapped
// file into w_hi/w_lo by all cores, then the shard is unmapped, so the process
// holds at most the store plus one shard. The composition of frontend and
// runtime lives here because runtime/ does not read file formats.
#pragma once

#include <set>
#include <string>

#include "frontend/safetensors_index.h"
#include "runtime/host_store.h"
#include "runtime/thread_pool.h"

namespace horizon::cli {

struct WeightLoadReport {
  std::string source;
  int64_t tensors = 0;
  int64_t bytes = 0;  // bytes read from the files
  int shards = 0;
  double seconds = 0;
  std::set<std::string> dtypes;  // "BF16", "F16", "F32" as found on disk
  /// "initialized from SOURCE: N tensors, bf16 (X GB from K shards in S s, R GB/s)".
  std::string summary(const std::string& verb = "initialized from") const;
};

/// Sets every stored tensor's master from `files` and zeroes its moments;
/// the step count becomes 0. Every tensor is found and its shape and dtype
/// checked before anything is written. UserError names the file, the tensor
/// and the fix; so does a tensor in the files the model has no place for
/// (except rotary tables and a tied lm_head.weight), since that means the
/// config does not describe the weights.
WeightLoadReport load_weight_files(frontend::WeightFiles& files, runtime::HostStore& store,
                                   runtime::ThreadPool& pool = runtime::ThreadPool::global());

/// Opens `path` (directory, index or safetensors file) and loads it.
WeightLoadReport load_model_weights(const std::string& path, runtime::HostStore& store,
                                    runtime::ThreadPool& pool = runtime::ThreadPool::global());

}  // namespace horizon::cli
