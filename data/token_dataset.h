// The training data in memory: one token stream loaded from a token file, a
// text file or a folder of text files, and its split into train and a held-out
// validation tail. The split is one contiguous cut, so no training window
// contains a validation token and the validation loss measures held-out text.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "data/text_corpus.h"

namespace horizon::data {

/// A view of one split of a TokenDataset; valid while the dataset lives.
struct TokenSplit {
  std::string name;    // "train" or "validation"
  std::string source;  // the data path, for messages
  std::span<const int32_t> tokens;
};

class TokenDataset {
 public:
  static constexpr double kDefaultValFraction = 0.05;

  /// Loads `path`: a token file (recognized by its magic), else a text file or
  /// a folder of text files, tokenized by `tokenizer` (bytes when null; see
  /// text_corpus.h). The last
  /// `val_fraction` of the stream is the validation split. UserError if the
  /// path is unreadable, holds no data, a token is >= `vocab`, or val_fraction
  /// is not in [0, 1).
  static TokenDataset load(const std::string& path, int64_t vocab, double val_fraction = kDefaultValFraction,
                           const Tokenizer* tokenizer = nullptr);

  /// A dataset over tokens already in memory; `source` names it in errors.
  static TokenDataset from_tokens(std::vector<int32_t> tokens, int64_t vocab, double val_fraction = kDefaultValFraction,
                                  std::string source = "in-memory tokens");

  TokenSplit train() const;
  TokenSplit validation() const;
  const std::vector<int32_t>& tokens() const { return tokens_; }
  int64_t vocab() const { return vocab_; }
  const std::string& source() const { return source_; }
  /// Files read and skipped when the source was text; zeros for a token file.
  const CorpusSummary& summary() const { return summary_; }

 private:
  TokenDataset() = default;
  void check_and_split(double val_fraction);

  std::vector<int32_t> tokens_;
  int64_t vocab_ = 0;
  int64_t train_size_ = 0;
  std::string source_;
  CorpusSummary summary_;
};

}  // namespace horizon::data
