// Text generation from a trained model: repeated forward passes over the
// growing context (cropped to the model's max_seq), sampling the next token
// with temperature and top-k from a seeded generator.
#pragma once

#include <cstdint>
#include <vector>

#include "ir/module.h"
#include "runtime/host_store.h"

namespace horizon::runtime {

struct SampleOptions {
  int64_t tokens = 200;
  double temperature = 0.8;  // 0 = greedy
  int64_t top_k = 40;        // 0 = all
  uint64_t seed = 1;
  int64_t max_context = 1024;
};

/// Continues `prompt` (token ids) by opts.tokens tokens; returns only the new ones.
std::vector<int32_t> generate(const ir::Module& lowered, const HostStore& store, const std::vector<int32_t>& prompt,
                              const SampleOptions& opts);

/// Draws one token from `logits[vocab]` with temperature and top-k.
int32_t sample_token(const float* logits, int64_t vocab, double temperature, int64_t top_k, uint64_t random_bits);

}  // namespace horizon::runtime
