// The BPE model of tokenizer.json: vocabulary, ranked merges, and the
// options byte-level (GPT-2, Qwen, Llama 3) and SentencePiece-style (Llama 2,
// Mistral: byte_fallback, unk, fuse_unk) files use. Words are merged as the
// `tokenizers` library does (lowest rank first, leftmost on ties) and cached
// per thread, since a corpus repeats its words.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "data/pre_tokenizers.h"
#include "data/word_cache.h"

namespace horizon::data {

class JsonPlace;

/// std::string keys looked up by string_view without a copy.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using TokenIds = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

class BpeModel {
 public:
  /// The "model" object at `place`; UserError naming the path on anything
  /// malformed or unsupported (another model type, dropout).
  explicit BpeModel(const JsonPlace& place);

  /// Appends the IDs of one pre-tokenized word.
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;
  /// Appends the IDs of every piece, in order.
  void encode_words(const PieceList& words, std::vector<int32_t>& out) const;

  std::optional<int32_t> token_id(std::string_view token) const;
  /// The token of `id`, or nullptr when the vocabulary has none.
  const std::string* token(int32_t id) const;
  /// Number of tokens in the vocabulary.
  int64_t vocab_count() const { return static_cast<int64_t>(vocab_.size()); }
  /// One past the largest ID.
  int64_t id_limit() const { return static_cast<int64_t>(tokens_.size()); }

 private:
  struct Merge {
    int32_t rank;
    int32_t new_id;
  };
  static uint64_t pair_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  void add_merge(const JsonPlace& place, int32_t rank, const std::string& left, const std::string& right);
  /// The word's symbols before merging (characters, byte fallback, unk).
  void initial_symbols(std::string_view word, std::vector<int32_t>& ids, std::vector<uint32_t>& lengths) const;
  void merge(std::vector<int32_t>& ids) const;
  void encode_uncached(std::string_view word, std::vector<int32_t>& out) const;
  WordCache& thread_cache() const;

  TokenIds vocab_;
  std::vector<std::string> tokens_;  // by ID; empty where the vocabulary has a hole
  std::vector<bool> has_token_;
  std::unordered_map<uint64_t, Merge> merges_;
  std::optional<int32_t> unk_id_;
  std::string continuing_subword_prefix_, end_of_word_suffix_;
  bool fuse_unk_ = false, byte_fallback_ = false, ignore_merges_ = false;
  static constexpr std::string_view kMetaspace = "\xE2\x96\x81";  // "▁", SentencePiece's space
  bool split_before_metaspace_ = false;
  int32_t byte_ids_[256];  // <0xXX> tokens for byte_fallback; -1 when absent
  uint64_t cache_owner_;   // identifies this model's entries in the per-thread word caches
};

}  // namespace horizon::data
