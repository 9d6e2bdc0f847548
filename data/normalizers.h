// tokenizer.json normalizers: what the text becomes before added tokens
// marked `normalized` are matched and before pre-tokenization. Llama 2 style
// files prepend "▁" and replace spaces; Qwen uses NFC.
#pragma once

#include <memory>
#include <string>

namespace horizon::data {

class JsonPlace;

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  /// Normalizes one piece of text (valid UTF-8) in place.
  virtual void normalize(std::string& text) const = 0;
};

/// The normalizer described at `place` (NFC, NFD, NFKC, NFKD, Prepend,
/// Replace, Sequence); nullptr for null. UserError names the path otherwise.
std::unique_ptr<Normalizer> parse_normalizer(const JsonPlace& place);

}  // namespace horizon::data
