// Pre-tokenizers (see pre_tokenizers.h), following the `tokenizers` library's
// pre_tokenizers/{byte_level,split,metaspace,sequence}.rs.
#include "data/pre_tokenizers.h"

#include <algorithm>
#include <array>

#include "data/onig_regex.h"
#include "data/tokenizer_json.h"
#include "data/utf8_text.h"

namespace horizon::data {

namespace {

using Matches = std::vector<std::pair<size_t, size_t>>;

// GPT-2's split, used by ByteLevel when use_regex is true.
constexpr const char* kByteLevelRegex = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

std::array<std::string, 256> make_byte_level_table() {
  std::array<std::string, 256> table;
  int next = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    utf8::append(table[b], printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + next++));
  }
  return table;
}

using Span = PieceList::Span;

class ByteLevelPreTokenizer final : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex, const JsonPlace& place)
      : add_prefix_space_(add_prefix_space) {
    if (use_regex) regex_ = std::make_unique<OnigPattern>(kByteLevelRegex, place);
  }
  void pre_tokenize(PieceList& pieces, PieceList& scratch) const override {
    // The prefix space goes on each piece before the regex runs, so the
    // pieces are rebuilt with it first.
    if (add_prefix_space_) {
      scratch.text.clear();
      scratch.spans.clear();
      for (const Span& span : pieces.spans) {
        const auto start = static_cast<uint32_t>(scratch.text.size());
        if (pieces.text[span.start] != ' ') scratch.text.push_back(' ');
        scratch.text.append(pieces.view(span));
        scratch.spans.push_back({start, static_cast<uint32_t>(scratch.text.size()), span.at_input_start});
      }
      std::swap(pieces, scratch);
    }
    if (regex_) {
      scratch.spans.clear();
      thread_local Matches matches;
      for (const Span& span : pieces.spans) {
        matches.clear();
        regex_->find_all(pieces.view(span), matches);
        split_at_matches(span, matches, SplitBehavior::isolated, false, scratch.spans);
      }
      pieces.spans.swap(scratch.spans);
    }
    // Every byte becomes its printable stand-in character.
    scratch.text.clear();
    scratch.spans.clear();
    for (const Span& span : pieces.spans) {
      const auto start = static_cast<uint32_t>(scratch.text.size());
      for (unsigned char b : pieces.view(span)) scratch.text += byte_level_char(b);
      scratch.spans.push_back({start, static_cast<uint32_t>(scratch.text.size()), span.at_input_start});
    }
    std::swap(pieces, scratch);
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<OnigPattern> regex_;
};

class SplitPreTokenizer final : public PreTokenizer {
 public:
  SplitPreTokenizer(const std::string& regex, SplitBehavior behavior, bool invert, const JsonPlace& place)
      : regex_(regex, place), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(PieceList& pieces, PieceList& scratch) const override {
    scratch.spans.clear();
    thread_local Matches matches;
    for (const Span& span : pieces.spans) {
      matches.clear();
      regex_.find_all(pieces.view(span), matches);
      split_at_matches(span, matches, behavior_, invert_, scratch.spans);
    }
    pieces.spans.swap(scratch.spans);
  }

 private:
  OnigPattern regex_;
  SplitBehavior behavior_;
  bool invert_;
};

enum class PrependScheme { always, first, never };

class MetaspacePreTokenizer final : public PreTokenizer {
 public:
  MetaspacePreTokenizer(std::string replacement, PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {}
  void pre_tokenize(PieceList& pieces, PieceList& scratch) const override {
    scratch.text.clear();
    scratch.spans.clear();
    thread_local Matches matches;
    for (const Span& span : pieces.spans) {
      const std::string_view piece = pieces.view(span);
      const auto start = static_cast<uint32_t>(scratch.text.size());
      const bool starts_with_replacement =
          piece.compare(0, replacement_.size(), replacement_) == 0 || (!piece.empty() && piece[0] == ' ');
      if (!piece.empty() && !starts_with_replacement &&
          (scheme_ == PrependScheme::always || (scheme_ == PrependScheme::first && span.at_input_start)))
        scratch.text += replacement_;
      for (char c : piece) {
        if (c == ' ')
          scratch.text += replacement_;
        else
          scratch.text.push_back(c);
      }
      const Span rewritten{start, static_cast<uint32_t>(scratch.text.size()), span.at_input_start};
      if (!split_) {
        if (rewritten.end > rewritten.start) scratch.spans.push_back(rewritten);
        continue;
      }
      matches.clear();
      const std::string_view text = scratch.view(rewritten);
      for (size_t at = 0; (at = text.find(replacement_, at)) != std::string_view::npos; at += replacement_.size())
        matches.emplace_back(at, at + replacement_.size());
      split_at_matches(rewritten, matches, SplitBehavior::merged_with_next, false, scratch.spans);
    }
    std::swap(pieces, scratch);
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
};

class SequencePreTokenizer final : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> parts) : parts_(std::move(parts)) {}
  void pre_tokenize(PieceList& pieces, PieceList& scratch) const override {
    for (const auto& part : parts_) part->pre_tokenize(pieces, scratch);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

SplitBehavior parse_behavior(const JsonPlace& place) {
  const std::string name = place.string();
  if (name == "Removed") return SplitBehavior::removed;
  if (name == "Isolated") return SplitBehavior::isolated;
  if (name == "MergedWithPrevious") return SplitBehavior::merged_with_previous;
  if (name == "MergedWithNext") return SplitBehavior::merged_with_next;
  if (name == "Contiguous") return SplitBehavior::contiguous;
  place.fail("unsupported split behavior \"" + name + "\"",
             "supported: Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous");
}

std::unique_ptr<PreTokenizer> parse_metaspace(const JsonPlace& place) {
  const std::string replacement = place["replacement"].string();
  if (utf8::count_chars(replacement) != 1) place["replacement"].fail("expected one character");
  PrependScheme scheme = PrependScheme::always;
  if (place.has("prepend_scheme")) {
    const std::string name = place["prepend_scheme"].string();
    if (name == "always")
      scheme = PrependScheme::always;
    else if (name == "first")
      scheme = PrependScheme::first;
    else if (name == "never")
      scheme = PrependScheme::never;
    else
      place["prepend_scheme"].fail("unsupported prepend_scheme \"" + name + "\"", "supported: always, first, never");
  }
  // Files written before prepend_scheme existed say add_prefix_space: false for "never".
  if (!place["add_prefix_space"].boolean_or(true)) {
    if (scheme != PrependScheme::never && place.has("prepend_scheme"))
      place["add_prefix_space"].fail("add_prefix_space false contradicts prepend_scheme");
    scheme = PrependScheme::never;
  }
  return std::make_unique<MetaspacePreTokenizer>(replacement, scheme, place["split"].boolean_or(true));
}

}  // namespace

const std::string& byte_level_char(unsigned char b) {
  static const std::array<std::string, 256> table = make_byte_level_table();
  return table[b];
}

void split_at_matches(const Span& piece, const Matches& matches, SplitBehavior behavior, bool invert,
                      std::vector<Span>& out) {
  const size_t size = piece.end - piece.start;
  // (start, end, is_match) covering the whole piece, as Pattern::find_matches returns.
  struct Segment {
    size_t start, end;
    bool is_match;
  };
  thread_local std::vector<Segment> segments, kept;
  segments.clear();
  kept.clear();
  size_t at = 0;
  for (auto [start, stop] : matches) {
    if (at != start) segments.push_back({at, start, invert});
    segments.push_back({start, stop, !invert});
    at = stop;
  }
  if (at != size) segments.push_back({at, size, invert});

  // From here is_match means "remove".
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::isolated:
      for (Segment s : segments) kept.push_back({s.start, s.end, false});
      break;
    case SplitBehavior::removed:
      for (Segment s : segments) kept.push_back(s);
      break;
    case SplitBehavior::contiguous:
      for (Segment s : segments) {
        if (s.is_match == previous_match && !kept.empty())
          kept.back().end = s.end;
        else
          kept.push_back({s.start, s.end, false});
        previous_match = s.is_match;
      }
      break;
    case SplitBehavior::merged_with_previous:
      for (Segment s : segments) {
        if (s.is_match && !previous_match && !kept.empty())
          kept.back().end = s.end;
        else
          kept.push_back({s.start, s.end, false});
        previous_match = s.is_match;
      }
      break;
    case SplitBehavior::merged_with_next:
      for (size_t i = segments.size(); i-- > 0;) {
        const Segment s = segments[i];
        if (s.is_match && !previous_match && !kept.empty())
          kept.back().start = s.start;
        else
          kept.push_back({s.start, s.end, false});
        previous_match = s.is_match;
      }
      std::reverse(kept.begin(), kept.end());
      break;
  }
  for (const Segment& s : kept) {
    if (s.is_match || s.start == s.end) continue;
    out.push_back(Span{static_cast<uint32_t>(piece.start + s.start), static_cast<uint32_t>(piece.start + s.end),
                       piece.at_input_start && s.start == 0});
  }
}

std::unique_ptr<PreTokenizer> parse_pre_tokenizer(const JsonPlace& place) {
  if (place.is_null()) return nullptr;
  const std::string type = place.type("ByteLevel, Split, Metaspace, Sequence");
  if (type == "ByteLevel")
    return std::make_unique<ByteLevelPreTokenizer>(place["add_prefix_space"].boolean_or(true),
                                                   place["use_regex"].boolean_or(true), place);
  if (type == "Split") {
    const JsonPlace pattern = place["pattern"];
    std::string regex;
    if (pattern.has("String")) {
      regex = OnigPattern::escape(pattern["String"].string());
    } else if (pattern.has("Regex")) {
      regex = pattern["Regex"].string();
    } else {
      pattern.fail("expected {\"String\": ...} or {\"Regex\": ...}");
    }
    return std::make_unique<SplitPreTokenizer>(regex, parse_behavior(place["behavior"]),
                                               place["invert"].boolean_or(false), pattern);
  }
  if (type == "Metaspace") return parse_metaspace(place);
  const JsonPlace list = place["pretokenizers"];
  std::vector<std::unique_ptr<PreTokenizer>> parts;
  for (size_t i = 0; i < list.size(); ++i) {
    auto part = parse_pre_tokenizer(list[i]);
    if (!part) list[i].fail("expected a pre-tokenizer, found null");
    parts.push_back(std::move(part));
  }
  return std::make_unique<SequencePreTokenizer>(std::move(parts));
}

}  // namespace horizon::data
