// Raw text as training data: one text file, or every text file under a folder
// (recursively, following symlinks), read in sorted path order so the token
// stream is the same on every machine. Binary files are skipped, not
// tokenized: `*.dat` (fortune's index files, a common demo corpus) and any
// file containing a NUL byte, which text never has.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/tokenizer.h"

namespace horizon::data {

/// What reading a folder found, for the trainer to report.
struct CorpusSummary {
  int64_t files_read = 0;
  int64_t bytes_read = 0;
  int64_t skipped_binary = 0;     // *.dat or containing NUL
  int64_t skipped_duplicate = 0;  // a second path (a symlink) to a file already read
  int64_t skipped_hidden = 0;     // names starting with '.', e.g. .git
};

/// Tokens of the text at `path` (a file or a folder), each document encoded
/// by `tokenizer` (bytes when null) and documents joined by the tokens of
/// "\n". UserError if the path is missing or unreadable. An empty result is
/// returned as is; the caller decides whether that is an error.
std::vector<int32_t> read_text_corpus(const std::string& path, CorpusSummary& summary,
                                      const Tokenizer* tokenizer = nullptr);

}  // namespace horizon::data
