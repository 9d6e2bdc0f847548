// Token file encoding and validation (docs/token-file.md). Tokens are
// (de)coded byte by byte, so the format is little-endian on any host, in 1M-
// token chunks so a multi-GB file needs no second full-size buffer.
#include "data/token_file.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "support/atomic_file.h"
#include "support/error.h"

namespace horizon::data {
namespace {

// Header layout, all little-endian: magic[8] | u32 version | u32 bytes_per_token | u64 count | u64 vocab.
constexpr size_t kVersionAt = 8, kWidthAt = 12, kCountAt = 16, kVocabAt = 24;
constexpr int64_t kMaxVocab = int64_t{1} << 31;  // tokens are int32 in memory

void put_le(uint8_t* p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint64_t get_le(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

[[noreturn]] void bad(const std::string& path, const std::string& problem, const std::string& fix) {
  throw_user_error(path, "token file", problem, fix);
}

const char* kRewrite = "the file is damaged or was not written by Horizon; regenerate it";

}  // namespace

bool is_token_file(const std::string& path) {
  // By name or by content (docs/token-file.md, "Recognition"): a damaged
  // token file must be an error, never trained on as text.
  if (path.size() >= 7 && path.compare(path.size() - 7, 7, ".tokens") == 0) return true;
  std::ifstream f(path, std::ios::binary);
  char magic[sizeof(kTokenFileMagic)] = {};
  f.read(magic, sizeof(magic));
  return f.gcount() >= 5 && std::memcmp(magic, kTokenFileMagic, 5) == 0;
}

void write_token_file(const std::string& path, std::span<const int32_t> tokens, int64_t vocab) {
  if (vocab < 1 || vocab >= kMaxVocab)
    throw_user_error(path, "vocab", "vocab size " + std::to_string(vocab) + " is out of range", "use 1 to 2^31-1");
  for (size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] < 0 || tokens[i] >= vocab)
      throw_user_error(
          path, "token " + std::to_string(i),
          "token " + std::to_string(tokens[i]) + " is outside the vocab [0, " + std::to_string(vocab) + ")",
          "tokenize with a vocab that covers every token");
  const int width = vocab <= 65536 ? 2 : 4;
  uint8_t header[kTokenFileHeaderBytes] = {};
  std::memcpy(header, kTokenFileMagic, sizeof(kTokenFileMagic));
  put_le(header + kVersionAt, kTokenFileVersion, 4);
  put_le(header + kWidthAt, static_cast<uint64_t>(width), 4);
  put_le(header + kCountAt, tokens.size(), 8);
  put_le(header + kVocabAt, static_cast<uint64_t>(vocab), 8);

  AtomicFileWriter out(path, "token file");
  out.write(header, sizeof(header));
  std::vector<uint8_t> chunk;
  const size_t per_chunk = size_t{1} << 20;
  for (size_t start = 0; start < tokens.size(); start += per_chunk) {
    size_t n = std::min(per_chunk, tokens.size() - start);
    chunk.resize(n * width);
    for (size_t i = 0; i < n; ++i) put_le(chunk.data() + i * width, static_cast<uint32_t>(tokens[start + i]), width);
    out.write(chunk.data(), chunk.size());
  }
  out.commit();
}

TokenFile read_token_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec))
    bad(path, "not a regular file (a device, pipe or socket)", "write the tokens to a file first");
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw_user_error(path, "", "cannot open the token file", "check the path and its permissions");
  const uint64_t size = static_cast<uint64_t>(f.tellg());
  f.seekg(0);
  uint8_t header[kTokenFileHeaderBytes];
  if (size < sizeof(header) || !f.read(reinterpret_cast<char*>(header), sizeof(header)))
    bad(path,
        "truncated: " + std::to_string(size) + " bytes, shorter than the " + std::to_string(kTokenFileHeaderBytes) +
            "-byte header",
        kRewrite);
  if (std::memcmp(header, kTokenFileMagic, sizeof(kTokenFileMagic)) != 0)
    bad(path, "bad magic: the file does not start with \"HZTOKENS\"",
        "pass a file written by write_token_file, or a text file or folder");
  const uint64_t version = get_le(header + kVersionAt, 4);
  if (version != kTokenFileVersion)
    bad(path,
        "version " + std::to_string(version) + " is not supported (this build reads version " +
            std::to_string(kTokenFileVersion) + ")",
        "regenerate the file with this version of Horizon");
  const uint64_t width = get_le(header + kWidthAt, 4);
  if (width != 2 && width != 4)
    bad(path, "bytes per token is " + std::to_string(width) + ", expected 2 (uint16) or 4 (uint32)", kRewrite);
  const uint64_t count = get_le(header + kCountAt, 8);
  const uint64_t vocab = get_le(header + kVocabAt, 8);
  if (vocab < 1 || vocab >= static_cast<uint64_t>(kMaxVocab) || (width == 2 && vocab > 65536))
    bad(path,
        "vocab size " + std::to_string(vocab) + " in the header is out of range for " + std::to_string(width) +
            "-byte tokens",
        kRewrite);
  const uint64_t body = size - sizeof(header);
  if (count > body / width)
    bad(path,
        "truncated: the header promises " + std::to_string(count) + " tokens (" + std::to_string(count * width) +
            " bytes) but only " + std::to_string(body) + " bytes follow it",
        "the write was interrupted or the copy is incomplete; copy or regenerate it");
  if (body != count * width)
    bad(path,
        std::to_string(body - count * width) + " unexpected bytes after the last of " + std::to_string(count) +
            " tokens",
        kRewrite);

  TokenFile out;
  out.vocab = static_cast<int64_t>(vocab);
  out.bytes_per_token = static_cast<int>(width);
  out.tokens.resize(count);
  std::vector<uint8_t> chunk;
  const uint64_t per_chunk = uint64_t{1} << 20;
  for (uint64_t start = 0; start < count; start += per_chunk) {
    uint64_t n = std::min(per_chunk, count - start);
    chunk.resize(n * width);
    if (!f.read(reinterpret_cast<char*>(chunk.data()), static_cast<std::streamsize>(chunk.size())))
      bad(path, "read error after " + std::to_string(start) + " tokens", "check the disk and the file");
    for (uint64_t i = 0; i < n; ++i) {
      uint64_t t = get_le(chunk.data() + i * width, static_cast<int>(width));
      if (t >= vocab)
        bad(path,
            "token " + std::to_string(t) + " at index " + std::to_string(start + i) + " is >= the vocab size " +
                std::to_string(vocab) + " in the header",
            kRewrite);
      out.tokens[start + i] = static_cast<int32_t>(t);
    }
  }
  return out;
}

}  // namespace horizon::data
