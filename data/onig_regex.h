// The Oniguruma regex engine behind tokenizer.json's Split pattern and Replace
// normalizer: the engine the `tokenizers` library uses (Ruby syntax, UTF-8),
// so \p{L}, \s and lookahead mean exactly what the tokenizer's author tested.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace horizon::data {

class JsonPlace;

class OnigPattern {
 public:
  /// Compiles `pattern`; a syntax error is a UserError at `place`.
  OnigPattern(const std::string& pattern, const JsonPlace& place);
  ~OnigPattern();
  OnigPattern(const OnigPattern&) = delete;
  OnigPattern& operator=(const OnigPattern&) = delete;

  /// A literal string as a pattern (Rust regex::escape), for {"String": ...} patterns.
  static std::string escape(std::string_view literal);

  /// Byte ranges of the successive matches in `text` (valid UTF-8), as the
  /// library's find_iter yields them: an empty match right after the previous
  /// match is skipped by advancing one character. UserError when the engine
  /// gives up (its backtracking limit) on a pathological text.
  void find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const;

 private:
  void* regex_ = nullptr;  // OnigRegex; kept opaque so oniguruma.h stays out of our headers
  std::string pattern_;
};

}  // namespace horizon::data
