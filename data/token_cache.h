// The token cache: tokenized, rendered and masked data kept as a version-2
// token file (docs/token-file.md) named by a key that hashes everything that
// changes the tokens — every data file's bytes and path order, the tokenizer
// files, the chat template source and the options (fields, --loss-on,
// --skip-bad-rows). The same key finds the file on the next run, which then
// starts training without tokenizing; any change makes a new key.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "data/data_files.h"
#include "data/document_set.h"

namespace horizon::data {

/// Incremental 96-bit content hash (FNV-1a 64 and CRC-32 side by side): not
/// cryptographic, a cache key against accidental change.
class ContentHash {
 public:
  void add(std::string_view bytes);
  /// Adds the length first, so ("ab","c") and ("a","bc") differ.
  void add_field(std::string_view bytes);
  std::string hex() const;

 private:
  uint64_t fnv_ = 1469598103934665603ull;
  unsigned long crc_ = 0;
};

struct CacheInputs {
  std::vector<DataFile> files;
  std::string tokenizer;      // the tokenizer's identity: its files' bytes, or "byte-level"
  std::string chat_template;  // template source ("" without one)
  std::string options;        // the token-changing options, as text
};

/// The key of these inputs (hashes every data file's bytes).
std::string cache_key(const CacheInputs& inputs);

/// "$XDG_CACHE_HOME/horizon/tokens", else "$HOME/.cache/horizon/tokens", else "".
std::string default_cache_dir();

/// The cached documents and stats under `dir` for `key`, if present and whole.
std::optional<DocumentSet> load_cached(const std::string& dir, const std::string& key, int64_t vocab, DataStats& stats);

/// Writes the documents and stats under `dir` for `key` (creates `dir`); returns the file's path.
std::string store_cached(const std::string& dir, const std::string& key, const DocumentSet& documents, int64_t vocab,
                         const DataStats& stats);

}  // namespace horizon::data
