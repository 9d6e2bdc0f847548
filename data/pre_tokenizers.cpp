// Pre-tokenizers (see pre_tokenizers.h), following the `tokenizers` library's
// pre_tokenizers/{byte_level,split,metaspace,sequence}.rs.
#include "data/pre_tokenizers.h"

#include <array>

#include "data/onig_regex.h"
#include "data/tokenizer_json.h"
#include "data/utf8_text.h"

namespace horizon::data {

namespace {

using Matches = std::vector<std::pair<size_t, size_t>>;

// GPT-2's split, used by ByteLevel when use_regex is true.
constexpr const char* kByteLevelRegex =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

std::array<std::string, 256> make_byte_level_table() {
  std::array<std::string, 256> table;
  int next = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    utf8::append(table[b], printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + next++));
  }
  return table;
}

class ByteLevelPreTokenizer final : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex, const JsonPlace& place)
      : add_prefix_space_(add_prefix_space) {
    if (use_regex) regex_ = std::make_unique<OnigPattern>(kByteLevelRegex, place);
  }
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    std::vector<Piece> split;
    split.reserve(pieces.size());
    Matches matches;
    for (Piece& piece : pieces) {
      if (add_prefix_space_ && piece.text[0] != ' ') piece.text.insert(0, " ");
      if (!regex_) {
        split.push_back(std::move(piece));
        continue;
      }
      matches.clear();
      regex_->find_all(piece.text, matches);
      split_at_matches(piece, matches, SplitBehavior::isolated, false, split);
    }
    for (Piece& piece : split) piece.text = to_byte_chars(piece.text);
    pieces.swap(split);
  }

 private:
  static std::string to_byte_chars(const std::string& text) {
    std::string out;
    out.reserve(text.size() + text.size() / 4);
    for (unsigned char b : text) out += byte_level_char(b);
    return out;
  }
  bool add_prefix_space_;
  std::unique_ptr<OnigPattern> regex_;
};

class SplitPreTokenizer final : public PreTokenizer {
 public:
  SplitPreTokenizer(const std::string& regex, SplitBehavior behavior, bool invert, const JsonPlace& place)
      : regex_(regex, place), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    std::vector<Piece> split;
    split.reserve(pieces.size() * 4);
    Matches matches;
    for (const Piece& piece : pieces) {
      matches.clear();
      regex_.find_all(piece.text, matches);
      split_at_matches(piece, matches, behavior_, invert_, split);
    }
    pieces.swap(split);
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
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    std::vector<Piece> split;
    Matches matches;
    for (Piece& piece : pieces) {
      std::string text;
      text.reserve(piece.text.size() + replacement_.size());
      for (char c : piece.text) {
        if (c == ' ')
          text += replacement_;
        else
          text.push_back(c);
      }
      const bool starts_with_replacement = text.compare(0, replacement_.size(), replacement_) == 0;
      if (!text.empty() && !starts_with_replacement &&
          (scheme_ == PrependScheme::always || (scheme_ == PrependScheme::first && piece.at_input_start)))
        text.insert(0, replacement_);
      piece.text.swap(text);
      if (!split_) {
        split.push_back(std::move(piece));
        continue;
      }
      matches.clear();
      for (size_t at = 0; (at = piece.text.find(replacement_, at)) != std::string::npos; at += replacement_.size())
        matches.emplace_back(at, at + replacement_.size());
      split_at_matches(piece, matches, SplitBehavior::merged_with_next, false, split);
    }
    pieces.swap(split);
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
};

class SequencePreTokenizer final : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> parts) : parts_(std::move(parts)) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    for (const auto& part : parts_) part->pre_tokenize(pieces);
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

void split_at_matches(const Piece& piece, const Matches& matches, SplitBehavior behavior, bool invert,
                      std::vector<Piece>& out) {
  const std::string& text = piece.text;
  // (start, end, is_match) covering the whole text, as Pattern::find_matches returns.
  struct Segment {
    size_t start, end;
    bool is_match;
  };
  std::vector<Segment> segments;
  segments.reserve(matches.size() * 2 + 1);
  size_t at = 0;
  for (auto [start, stop] : matches) {
    if (at != start) segments.push_back({at, start, invert});
    segments.push_back({start, stop, !invert});
    at = stop;
  }
  if (at != text.size()) segments.push_back({at, text.size(), invert});

  std::vector<Segment> kept;  // is_match now means "remove"
  kept.reserve(segments.size());
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
    out.push_back(Piece{text.substr(s.start, s.end - s.start), piece.at_input_start && s.start == 0});
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
