// tokenizer.json decoders: how token strings become text again. ByteLevel maps
// GPT-2 byte characters back to bytes; the SentencePiece-style chain of Llama
// 2 (Replace "▁" -> " ", ByteFallback, Fuse, Strip) undoes Metaspace and
// <0xXX> tokens.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace horizon::data {

class JsonPlace;

class Decoder {
 public:
  virtual ~Decoder() = default;
  /// Rewrites the token strings in place (the library's decode_chain).
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

/// The decoder at `place` (ByteLevel, Metaspace, Replace, ByteFallback, Fuse,
/// Strip, Sequence); nullptr for null; UserError naming the path otherwise.
std::unique_ptr<Decoder> parse_decoder(const JsonPlace& place);

}  // namespace horizon::data
