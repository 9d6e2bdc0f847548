// From character spans of a text to per-token loss bits. The tokens are those
// of the whole text tokenized as one string (special tokens matched), as the
// model sees it at inference; the spans are found in the text (the chat
// template's assistant turns, a completion). Where tokenizing the pieces
// between span edges separately gives the same tokens, every edge is a token
// boundary and the mask is exact. Otherwise each edge is located by tokenizing
// the text up to it: a token that contains an edge (text on both sides) is
// counted as straddling and carries loss, so the mask never drops a trained
// character — the count is reported, never silent.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "data/tokenizer.h"

namespace horizon::data {

struct CharSpan {
  size_t begin = 0, end = 0;  // byte offsets into the text, [begin, end)
};

struct MaskedTokens {
  std::vector<int32_t> tokens;
  std::vector<uint8_t> loss;  // 1: predicting this token is trained
  int64_t straddling = 0;     // span edges that fell inside a token
};

/// Tokens of `text` (encode(text, add_special_tokens)) with loss on the tokens
/// that overlap `spans` (sorted, non-overlapping).
MaskedTokens mask_spans(const Tokenizer& tokenizer, std::string_view text, const std::vector<CharSpan>& spans,
                        bool add_special_tokens);

}  // namespace horizon::data
