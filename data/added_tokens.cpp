// Added-token matching (see added_tokens.h); semantics from the `tokenizers`
// library's tokenizer/added_vocabulary.rs.
#include "data/added_tokens.h"

#include <utf8proc.h>

#include "data/bpe_model.h"
#include "data/normalizers.h"
#include "data/tokenizer_json.h"
#include "data/utf8_text.h"

namespace horizon::data {

namespace {

// Rust regex's \w: Alphabetic, marks, decimal digits, connector punctuation, joiners.
bool is_word_char(char32_t c) {
  if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  if (c == 0x200C || c == 0x200D) return true;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return false;
  }
}

char32_t last_char(std::string_view text) {
  size_t i = text.size() - 1;
  while (i > 0 && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) --i;
  return utf8::decode_at(text, i);
}

// Start of the whitespace run that ends `text` (\s*$).
size_t trailing_space_start(std::string_view text) {
  size_t i = text.size();
  while (i > 0) {
    size_t j = i - 1;
    while (j > 0 && (static_cast<unsigned char>(text[j]) & 0xC0) == 0x80) --j;
    if (!utf8::is_whitespace(utf8::decode_at(text, j))) break;
    i = j;
  }
  return i;
}

// Length of the whitespace run that starts `text` (^\s*).
size_t leading_space_length(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && utf8::is_whitespace(utf8::decode_at(text, i)))
    i += utf8::char_length(static_cast<unsigned char>(text[i]));
  return i;
}

}  // namespace

void AddedVocabulary::Trie::insert(const std::string& text, int32_t token) {
  if (text.empty()) return;
  first_byte[static_cast<unsigned char>(text[0])] = true;
  int32_t node = 0;
  for (unsigned char c : text) {
    auto it = nodes[node].children.find(c);
    if (it == nodes[node].children.end()) {
      nodes.emplace_back();
      const auto child = static_cast<int32_t>(nodes.size() - 1);
      nodes[node].children.emplace(c, child);
      node = child;
    } else {
      node = it->second;
    }
  }
  nodes[node].token = token;  // a repeated content keeps the last token, like a map insert
}

int32_t AddedVocabulary::Trie::longest_at(std::string_view text, size_t at, size_t& length) const {
  int32_t best = -1;
  int32_t node = 0;
  for (size_t i = at; i < text.size(); ++i) {
    auto it = nodes[node].children.find(static_cast<unsigned char>(text[i]));
    if (it == nodes[node].children.end()) break;
    node = it->second;
    if (nodes[node].token >= 0) {
      best = nodes[node].token;
      length = i + 1 - at;
    }
  }
  return best;
}

AddedVocabulary::AddedVocabulary(const JsonPlace& place, const Normalizer* normalizer, const BpeModel& model) {
  if (place.is_null()) return;
  int32_t next_id = static_cast<int32_t>(model.vocab_count());
  for (size_t i = 0; i < place.size(); ++i) {
    const JsonPlace entry = place[i];
    AddedToken t;
    t.content = entry["content"].string();
    entry["id"].integer();  // required, but see the constructor's comment
    t.special = entry["special"].boolean_or(false);
    t.single_word = entry["single_word"].boolean_or(false);
    t.lstrip = entry["lstrip"].boolean_or(false);
    t.rstrip = entry["rstrip"].boolean_or(false);
    t.normalized = entry["normalized"].boolean_or(!t.special);
    if (t.content.empty()) continue;  // the library skips them
    if (!utf8::is_valid(t.content)) entry["content"].fail("not valid UTF-8");
    if (auto known = by_content_.find(t.content); known != by_content_.end()) {
      t.id = known->second;
    } else if (auto in_model = model.token_id(t.content)) {
      t.id = *in_model;
    } else {
      t.id = next_id++;
    }
    by_content_[t.content] = t.id;
    if (auto same = by_id_.find(t.id); same != by_id_.end()) {
      tokens_[same->second] = std::move(t);  // a later entry for the same token replaces it
    } else {
      by_id_[t.id] = tokens_.size();
      tokens_.push_back(std::move(t));
    }
  }
  for (size_t k = 0; k < tokens_.size(); ++k) {
    const AddedToken& t = tokens_[k];
    if (!t.normalized) {
      raw_.insert(t.content, static_cast<int32_t>(k));
      continue;
    }
    std::string pattern = t.content;
    if (normalizer) normalizer->normalize(pattern);
    normalized_.insert(pattern, static_cast<int32_t>(k));
  }
}

const AddedToken* AddedVocabulary::by_id(int32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

std::optional<int32_t> AddedVocabulary::id_of(std::string_view content) const {
  auto it = by_content_.find(std::string(content));
  if (it == by_content_.end()) return std::nullopt;
  return it->second;
}

void AddedVocabulary::split(std::string_view text, bool normalized, std::vector<AddedSplit>& out) const {
  const Trie& trie = normalized ? normalized_ : raw_;
  size_t start_offset = 0;
  if (trie.nodes.size() > 1) {
    for (size_t at = 0; at < text.size();) {
      if (!trie.first_byte[static_cast<unsigned char>(text[at])]) {
        ++at;
        continue;
      }
      size_t length = 0;
      const int32_t k = trie.longest_at(text, at, length);
      if (k < 0) {
        ++at;
        continue;
      }
      const AddedToken& t = tokens_[k];
      size_t start = at, stop = at + length;
      at = stop;  // the next search starts after this match, whatever is kept of it
      if (t.single_word) {
        const bool space_before = start == 0 || !is_word_char(last_char(text.substr(0, start)));
        const bool space_after = stop == text.size() || !is_word_char(utf8::decode_at(text, stop));
        if (!space_before || !space_after) continue;
      }
      if (t.lstrip) start = std::max(trailing_space_start(text.substr(0, start)), start_offset);
      if (t.rstrip) stop += leading_space_length(text.substr(stop));
      if (start_offset < start) out.push_back({start_offset, start, std::nullopt});
      out.push_back({start, stop, t.id});
      start_offset = stop;
    }
  }
  if (start_offset < text.size()) out.push_back({start_offset, text.size(), std::nullopt});
}

}  // namespace horizon::data
