// Byte <-> token conversion (see byte_tokenizer.h).
#include "data/byte_tokenizer.h"

namespace horizon::data {

std::vector<int32_t> ByteTokenizer::encode(std::string_view text, bool) const {
  std::vector<int32_t> tokens(text.size());
  // Through unsigned char: plain char is signed on x86, and byte 0xE2 must be token 226, not -30.
  for (size_t i = 0; i < text.size(); ++i) tokens[i] = static_cast<unsigned char>(text[i]);
  return tokens;
}

std::string ByteTokenizer::decode(std::span<const int32_t> tokens) const {
  std::string text;
  text.reserve(tokens.size());
  for (int32_t t : tokens) {
    if (t >= 0 && t < kVocab)
      text.push_back(static_cast<char>(static_cast<unsigned char>(t)));
    else
      text += "\xEF\xBF\xBD";
  }
  return text;
}

}  // namespace horizon::data
