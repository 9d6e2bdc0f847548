// tokenizer.json pre-tokenizers: they cut normalized text into the pieces
// ("words") the BPE model encodes one by one. ByteLevel also rewrites every
// byte as a printable character, Metaspace rewrites spaces as "▁".
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace horizon::data {

class JsonPlace;

/// One piece of the input on its way to the model.
struct Piece {
  std::string text;
  /// Whether the piece begins at offset 0 of the original input (Metaspace's
  /// prepend_scheme "first" adds "▁" only there).
  bool at_input_start = false;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  /// Replaces `pieces` by their pre-tokenized sub-pieces (no empty ones).
  virtual void pre_tokenize(std::vector<Piece>& pieces) const = 0;
};

/// How a Split keeps the matches of its pattern ("behavior" in tokenizer.json).
enum class SplitBehavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };

/// Cuts `piece` at `matches` (byte ranges, in order) as the library's
/// NormalizedString::split does; appends the non-empty results to `out`.
void split_at_matches(const Piece& piece, const std::vector<std::pair<size_t, size_t>>& matches,
                      SplitBehavior behavior, bool invert, std::vector<Piece>& out);

/// The pre-tokenizer at `place` (ByteLevel, Split, Metaspace, Sequence);
/// nullptr for null; UserError naming the path otherwise.
std::unique_ptr<PreTokenizer> parse_pre_tokenizer(const JsonPlace& place);

/// The byte -> character table of GPT-2 style byte-level BPE: UTF-8 of the
/// character standing for byte b.
const std::string& byte_level_char(unsigned char b);

}  // namespace horizon::data
