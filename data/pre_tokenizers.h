// tokenizer.json pre-tokenizers: they cut normalized text into the pieces
// ("words") the BPE model encodes one by one. ByteLevel also rewrites every
// byte as a printable character, Metaspace rewrites spaces as "▁".
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace horizon::data {

class JsonPlace;

/// The pieces of the input on their way to the model: byte ranges of one
/// buffer, so cutting a piece copies nothing and a whole encode reuses the
/// same two buffers.
struct PieceList {
  struct Span {
    uint32_t start, end;
    /// Whether the piece begins at offset 0 of the original input (Metaspace's
    /// prepend_scheme "first" adds "▁" only there).
    bool at_input_start;
  };
  std::string text;
  std::vector<Span> spans;

  std::string_view view(const Span& s) const { return std::string_view(text).substr(s.start, s.end - s.start); }
  /// One piece holding `piece`.
  void assign(std::string_view piece, bool at_input_start) {
    text.assign(piece);
    spans.assign(1, Span{0, static_cast<uint32_t>(piece.size()), at_input_start});
  }
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  /// Replaces the pieces by their pre-tokenized sub-pieces (no empty ones);
  /// `scratch` is a second buffer to build them in.
  virtual void pre_tokenize(PieceList& pieces, PieceList& scratch) const = 0;
};

/// How a Split keeps the matches of its pattern ("behavior" in tokenizer.json).
enum class SplitBehavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };

/// Cuts `piece` of `text` at `matches` (byte ranges relative to the piece, in
/// order) as the library's NormalizedString::split does; appends the
/// non-empty results to `out`.
void split_at_matches(const PieceList::Span& piece, const std::vector<std::pair<size_t, size_t>>& matches,
                      SplitBehavior behavior, bool invert, std::vector<PieceList::Span>& out);

/// The pre-tokenizer at `place` (ByteLevel, Split, Metaspace, Sequence);
/// nullptr for null; UserError naming the path otherwise.
std::unique_ptr<PreTokenizer> parse_pre_tokenizer(const JsonPlace& place);

/// The byte -> character table of GPT-2 style byte-level BPE: UTF-8 of the
/// character standing for byte b.
const std::string& byte_level_char(unsigned char b);

}  // namespace horizon::data
