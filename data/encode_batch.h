// Tokenizing many texts with every core: texts are independent, so a batch is
// cut into chunks that threads take in turn. Tokenizer::encode is safe to call
// concurrently (HfTokenizer's word caches are per thread).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "data/tokenizer.h"

namespace horizon::data {

/// encode(texts[i], add_special_tokens) for every i, in order, on `threads`
/// threads (0 = all hardware threads).
std::vector<std::vector<int32_t>> encode_batch(const Tokenizer& tokenizer, std::span<const std::string> texts,
                                               bool add_special_tokens = false, int threads = 0);

}  // namespace horizon::data
