// Tokenized documents with their loss masks, stored flat: every token of every
// document in one array, a parallel 0/1 loss channel and the end offset of
// each document. A document is one training example (a text file, a JSONL row,
// a conversation); packing keeps documents from attending to each other.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace horizon::data {

/// What loading data found, for the screen and `horizon data`.
struct DataStats {
  int64_t files = 0, rows = 0;
  int64_t bad_rows = 0;                // skipped with --skip-bad-rows
  std::string first_bad_row;           // the first skipped row's error, for the report
  int64_t empty_documents = 0;         // rendered to no tokens, not kept
  int64_t documents_without_loss = 0;  // kept, but no token carries loss (e.g. no assistant turn)
  int64_t straddling_boundaries = 0;   // loss-span edges inside a token (the token carries loss)
};

class DocumentSet {
 public:
  /// Appends a document; `loss` has one 0/1 entry per token (1: predicting
  /// this token is trained). Empty documents are not added (counted by the caller).
  void add(std::span<const int32_t> tokens, std::span<const uint8_t> loss);

  int64_t size() const { return static_cast<int64_t>(ends_.size()); }
  int64_t token_count() const { return static_cast<int64_t>(tokens_.size()); }
  int64_t begin(int64_t doc) const { return doc == 0 ? 0 : ends_[doc - 1]; }
  int64_t length(int64_t doc) const { return ends_[doc] - begin(doc); }
  std::span<const int32_t> tokens(int64_t doc) const {
    return std::span<const int32_t>(tokens_).subspan(begin(doc), length(doc));
  }
  std::span<const uint8_t> loss(int64_t doc) const {
    return std::span<const uint8_t>(loss_).subspan(begin(doc), length(doc));
  }
  int64_t loss_token_count() const;

  const std::vector<int32_t>& all_tokens() const { return tokens_; }
  const std::vector<uint8_t>& all_loss() const { return loss_; }
  const std::vector<int64_t>& ends() const { return ends_; }

  /// Rebuilds from the flat channels (a version-2 token file); `loss` empty = every token trains.
  static DocumentSet from_flat(std::vector<int32_t> tokens, std::vector<uint8_t> loss, std::vector<int64_t> ends);

  /// The documents at `indices`, in that order.
  DocumentSet subset(std::span<const int64_t> indices) const;

  /// Splits by whole documents: a seeded random `fraction` of the documents
  /// (at least one when fraction > 0 and there are two or more) becomes
  /// validation, the rest train, each in the original order.
  static void split(const DocumentSet& all, double fraction, uint64_t seed, DocumentSet& train,
                    DocumentSet& validation);

 private:
  std::vector<int32_t> tokens_;
  std::vector<uint8_t> loss_;
  std::vector<int64_t> ends_;
};

}  // namespace horizon::data
