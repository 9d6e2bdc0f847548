// The byte-level tokenizer: every byte of UTF-8 (or any) text is one token,
// so the vocabulary is 256, nothing is out of vocabulary, and decode(encode(s))
// gives back s exactly. It is what the tiny demo models train on.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace horizon::data {

class ByteTokenizer {
 public:
  static constexpr int64_t kVocab = 256;

  int64_t vocab_size() const { return kVocab; }

  /// One token (0..255) per byte.
  std::vector<int32_t> encode(std::string_view text) const;

  /// Bytes back from tokens. A token outside 0..255 (a model whose vocab is
  /// larger than 256 can sample one) becomes U+FFFD rather than an error, so
  /// sampling output is always printable.
  std::string decode(std::span<const int32_t> tokens) const;
};

}  // namespace horizon::data
