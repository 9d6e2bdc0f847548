// The reference half of DPO without a second model: before the first step,
// the starting weights run forward once over every preference pair, and each
// sequence's log-probability is kept — in memory for the run and on disk
// beside the token cache, keyed by the token cache key, the starting
// weights' identity, the log-probability kind (sum or IPO's mean) and --seq,
// so the next run (or a resume) reads it instead of recomputing.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "cli/train_data.h"
#include "ir/module.h"
#include "runtime/host_store.h"
#include "runtime/trainer.h"

namespace horizon::cli {

struct ReferenceLogprobs {
  std::vector<float> per_document;  // NaN for documents of pairs the sampler leaves out
  std::string note;                 // for the screen: computed (time) or read, and where it is cached
};

/// `lowered` has a DPO head (passes::add_preference_loss); `store` holds the
/// starting weights; `weights` names them for the cache key (files and their
/// sizes and times, or the random seed).
/// `forward` computes a batch's per-row log-probabilities (the GPU's, with
/// --device cuda); empty: the CPU model.
ReferenceLogprobs reference_logprobs(const ir::Module& lowered, const runtime::HostStore& store, const TrainData& data,
                                     const std::string& weights, int64_t seq,
                                     const std::function<std::vector<float>(const runtime::TokenBatch&)>& forward = {});

/// The identity of the starting weights at `init` (a file or folder: every
/// file's path, size and modification time), or of a random initialization.
std::string weights_identity(const std::string& model, const std::string& init, uint64_t seed);

}  // namespace horizon::cli
