// Pre-tokenized data on disk (docs/token-file.md): a 32-byte header, magic
// "HZTOKENS", then the tokens as little-endian uint16 (vocab <= 65536) or
// uint32. Loading one is a single read with no tokenizer in the loop, and the
// header's vocab lets a mismatch with the model be reported before training.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace horizon::data {

inline constexpr char kTokenFileMagic[8] = {'H', 'Z', 'T', 'O', 'K', 'E', 'N', 'S'};
inline constexpr uint32_t kTokenFileVersion = 1;
inline constexpr size_t kTokenFileHeaderBytes = 32;

/// A token file's contents.
struct TokenFile {
  int64_t vocab = 0;        // every token is in [0, vocab)
  int bytes_per_token = 0;  // 2 (uint16) or 4 (uint32), as stored
  std::vector<int32_t> tokens;
};

/// Whether `path` is to be read as a token file: its name ends in ".tokens",
/// or it starts with "HZTOK" (the magic's first five bytes, so a file whose
/// magic is damaged further on is reported instead of read as text).
bool is_token_file(const std::string& path);

/// Writes `tokens` atomically (PATH.tmp, then rename). uint16 is used when
/// vocab <= 65536. UserError if a token is outside [0, vocab) or vocab is not
/// in [1, 2^31).
void write_token_file(const std::string& path, std::span<const int32_t> tokens, int64_t vocab);

/// Reads and validates a token file: UserError naming the file and the problem
/// for a bad magic, unknown version or token width, a truncated file or extra
/// bytes, and a token >= the header's vocab.
TokenFile read_token_file(const std::string& path);

}  // namespace horizon::data
