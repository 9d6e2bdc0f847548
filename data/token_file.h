// Pre-tokenized data on disk (docs/token-file.md): magic "HZTOKENS", a
// header, then the tokens as little-endian uint16 (vocab <= 65536) or uint32.
// Version 1 is a bare token stream; version 2 adds document boundaries, a
// per-token loss mask and a JSON metadata blob (the token cache's format).
// Loading one is a single read with no tokenizer in the loop, and the
// header's vocab lets a mismatch with the model be reported before training.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace horizon::data {

inline constexpr char kTokenFileMagic[8] = {'H', 'Z', 'T', 'O', 'K', 'E', 'N', 'S'};
inline constexpr uint32_t kTokenFileVersion = 1;
inline constexpr size_t kTokenFileHeaderBytes = 32;
inline constexpr uint32_t kTokenFileVersion2 = 2;
inline constexpr size_t kTokenFileV2HeaderBytes = 56;

/// A token file's contents.
struct TokenFile {
  int version = 1;
  int64_t vocab = 0;        // every token is in [0, vocab)
  int bytes_per_token = 0;  // 2 (uint16) or 4 (uint32), as stored
  std::vector<int32_t> tokens;
  // Version 2 only (empty for version 1):
  std::vector<int64_t> document_ends;  // end offset of each document, increasing, the last == tokens.size()
  std::vector<uint8_t> loss;           // per token: 1 = predicting this token carries loss; empty = all do
  std::string meta;                    // JSON text (what produced the file), may be empty
};

/// Whether `path` is to be read as a token file: its name ends in ".tokens",
/// or it starts with "HZTOK" (the magic's first five bytes, so a file whose
/// magic is damaged further on is reported instead of read as text).
bool is_token_file(const std::string& path);

/// The version in a token file's header (1, 2, or another number a reader
/// will refuse); 0 when `path` is not a token file.
uint32_t token_file_version(const std::string& path);

/// Writes `tokens` atomically (PATH.tmp, then rename). uint16 is used when
/// vocab <= 65536. UserError if a token is outside [0, vocab) or vocab is not
/// in [1, 2^31).
void write_token_file(const std::string& path, std::span<const int32_t> tokens, int64_t vocab);

/// Writes a version-2 file (tokens, document ends, optional loss mask, meta)
/// atomically. UserError for a token outside [0, vocab), document ends that
/// are not increasing or do not end at the token count, or a loss mask of
/// another length.
void write_token_file_v2(const std::string& path, const TokenFile& file);

/// Parses a whole token file held in memory (either version); `path` names it
/// in errors. This is what read_token_file runs, exposed for the fuzzer.
TokenFile parse_token_file(const std::string& path, std::string_view bytes);

/// Reads and validates a token file (version 1 or 2): UserError naming the file and the problem
/// for a bad magic, unknown version or token width, a truncated file or extra
/// bytes, and a token >= the header's vocab.
TokenFile read_token_file(const std::string& path);

}  // namespace horizon::data
