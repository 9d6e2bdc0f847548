// Added tokens of tokenizer.json ("added_tokens"): strings such as
// "<|im_start|>" or "</s>" that are cut out of the text before the
// pre-tokenizer sees it and map straight to their IDs. Matching follows the
// library's AddedVocabulary: leftmost-longest, non-normalized tokens on the raw
// text, normalized ones on the normalized pieces; single_word, lstrip and
// rstrip as it applies them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace horizon::data {

class BpeModel;
class JsonPlace;
class Normalizer;

struct AddedToken {
  std::string content;
  int32_t id = 0;
  bool special = false, single_word = false, lstrip = false, rstrip = false, normalized = true;
};

/// A piece of text between added tokens, or one added token.
struct AddedSplit {
  size_t start = 0, end = 0;  // byte range in the searched text
  std::optional<int32_t> id;  // set for an added token
};

class AddedVocabulary {
 public:
  AddedVocabulary() = default;
  /// Reads "added_tokens" at `place`. IDs are given as the library gives
  /// them, whatever the file says: a token already in the model's vocabulary
  /// keeps the model's ID, others are numbered from the model's vocabulary
  /// size on, in file order. Normalized tokens are matched in their
  /// normalized form, so `normalizer` (may be null) is applied to them here.
  AddedVocabulary(const JsonPlace& place, const Normalizer* normalizer, const BpeModel& model);

  /// Splits `text` at the tokens of one kind (normalized or not).
  void split(std::string_view text, bool normalized, std::vector<AddedSplit>& out) const;

  const AddedToken* by_id(int32_t id) const;
  std::optional<int32_t> id_of(std::string_view content) const;
  const std::vector<AddedToken>& tokens() const { return tokens_; }

 private:
  // A byte trie over one kind of token; node 0 is the root.
  struct Trie {
    struct Node {
      std::unordered_map<unsigned char, int32_t> children;
      int32_t token = -1;  // index into tokens_ when a token ends here
    };
    std::vector<Node> nodes{1};
    bool first_byte[256] = {};
    void insert(const std::string& text, int32_t token);
    /// Index of the longest token starting at text[at], or -1.
    int32_t longest_at(std::string_view text, size_t at, size_t& length) const;
  };

  std::vector<AddedToken> tokens_;
  std::unordered_map<int32_t, size_t> by_id_;
  std::unordered_map<std::string, int32_t> by_content_;
  Trie raw_, normalized_;
};

}  // namespace horizon::data
