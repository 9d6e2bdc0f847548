// The byte-level tokenizer: every byte of UTF-8 (or any) text is one token,
// so the vocabulary is 256, nothing is out of vocabulary, and decode(encode(s))
// gives back s exactly. It is what the tiny demo models train on.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "data/tokenizer.h"

namespace horizon::data {

class ByteTokenizer final : public Tokenizer {
 public:
  static constexpr int64_t kVocab = 256;

  int64_t vocab_size() const override { return kVocab; }

  /// One token (0..255) per byte; there are no special tokens to add.
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = false) const override;

  /// Bytes back from tokens. A token outside 0..255 (a model whose vocab is
  /// larger than 256 can sample one) becomes U+FFFD rather than an error, so
  /// sampling output is always printable.
  std::string decode(std::span<const int32_t> tokens) const override;

  /// A one-byte token's ID.
  std::optional<int32_t> token_id(std::string_view token) const override {
    if (token.size() != 1) return std::nullopt;
    return static_cast<unsigned char>(token[0]);
  }
};

}  // namespace horizon::data
