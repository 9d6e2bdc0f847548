// Token file encoding and validation (docs/token-file.md). Tokens are
// (de)coded byte by byte, so the format is little-endian on any host; version
// 1 in 1M-token chunks so a multi-GB stream needs no second full-size buffer.
// Version 2 (the token cache) is parsed from memory, one bounds check per field.
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
// Version 2 continues: u64 document count | u64 flags | u64 metadata bytes.
constexpr size_t kDocsAt = 32, kFlagsAt = 40, kMetaAt = 48;
constexpr uint64_t kHasLoss = 1;
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

uint32_t token_file_version(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  uint8_t head[kVersionAt + 4];
  if (!f.read(reinterpret_cast<char*>(head), sizeof(head)) || std::memcmp(head, kTokenFileMagic, 8) != 0) return 0;
  return static_cast<uint32_t>(get_le(head + kVersionAt, 4));
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

void write_token_file_v2(const std::string& path, const TokenFile& file) {
  const int64_t vocab = file.vocab;
  if (vocab < 1 || vocab >= kMaxVocab)
    throw_user_error(path, "vocab", "vocab size " + std::to_string(vocab) + " is out of range", "use 1 to 2^31-1");
  const auto n = static_cast<int64_t>(file.tokens.size());
  for (int64_t i = 0; i < n; ++i)
    if (file.tokens[i] < 0 || file.tokens[i] >= vocab)
      throw_user_error(
          path, "token " + std::to_string(i),
          "token " + std::to_string(file.tokens[i]) + " is outside the vocab [0, " + std::to_string(vocab) + ")",
          "tokenize with a vocab that covers every token");
  int64_t previous = 0;
  for (int64_t end : file.document_ends) {
    if (end <= previous || end > n)
      throw_user_error(path, "document ends", "must increase within (0, " + std::to_string(n) + "]", "");
    previous = end;
  }
  if (previous != n) throw_user_error(path, "document ends", "the last must equal the token count", "");
  if (!file.loss.empty() && static_cast<int64_t>(file.loss.size()) != n)
    throw_user_error(path, "loss mask",
                     "has " + std::to_string(file.loss.size()) + " entries for " + std::to_string(n) + " tokens", "");
  const int width = vocab <= 65536 ? 2 : 4;
  const uint64_t docs = file.document_ends.size();
  std::vector<uint8_t> bytes(kTokenFileV2HeaderBytes + n * width + docs * 8 + (file.loss.empty() ? 0 : (n + 7) / 8));
  uint8_t* p = bytes.data();
  std::memcpy(p, kTokenFileMagic, sizeof(kTokenFileMagic));
  put_le(p + kVersionAt, kTokenFileVersion2, 4);
  put_le(p + kWidthAt, static_cast<uint64_t>(width), 4);
  put_le(p + kCountAt, static_cast<uint64_t>(n), 8);
  put_le(p + kVocabAt, static_cast<uint64_t>(vocab), 8);
  put_le(p + kDocsAt, docs, 8);
  put_le(p + kFlagsAt, file.loss.empty() ? 0 : kHasLoss, 8);
  put_le(p + kMetaAt, file.meta.size(), 8);
  p += kTokenFileV2HeaderBytes;
  for (int64_t i = 0; i < n; ++i, p += width) put_le(p, static_cast<uint32_t>(file.tokens[i]), width);
  for (int64_t end : file.document_ends) put_le(p, static_cast<uint64_t>(end), 8), p += 8;
  for (int64_t i = 0; i < n && !file.loss.empty(); ++i)
    if (file.loss[i]) p[i / 8] |= static_cast<uint8_t>(1u << (i % 8));
  AtomicFileWriter out(path, "token file");
  out.write(bytes.data(), bytes.size());
  out.write(file.meta);
  out.commit();
}

TokenFile parse_token_file(const std::string& path, std::string_view bytes) {
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  const uint64_t size = bytes.size();
  if (size < kTokenFileHeaderBytes)
    bad(path, "truncated: " + std::to_string(size) + " bytes, shorter than the header", kRewrite);
  if (std::memcmp(data, kTokenFileMagic, sizeof(kTokenFileMagic)) != 0)
    bad(path, "bad magic: the file does not start with \"HZTOKENS\"",
        "pass a file written by write_token_file, or a text file or folder");
  const uint64_t version = get_le(data + kVersionAt, 4);
  if (version != kTokenFileVersion && version != kTokenFileVersion2)
    bad(path, "version " + std::to_string(version) + " is not supported (this build reads versions 1 and 2)",
        "regenerate the file with this version of Horizon");
  const uint64_t header = version == 1 ? kTokenFileHeaderBytes : kTokenFileV2HeaderBytes;
  if (size < header) bad(path, "truncated: " + std::to_string(size) + " bytes, shorter than the header", kRewrite);
  const uint64_t width = get_le(data + kWidthAt, 4);
  if (width != 2 && width != 4)
    bad(path, "bytes per token is " + std::to_string(width) + ", expected 2 (uint16) or 4 (uint32)", kRewrite);
  const uint64_t count = get_le(data + kCountAt, 8);
  const uint64_t vocab = get_le(data + kVocabAt, 8);
  if (vocab < 1 || vocab >= static_cast<uint64_t>(kMaxVocab) || (width == 2 && vocab > 65536))
    bad(path, "vocab size " + std::to_string(vocab) + " in the header is out of range", kRewrite);
  const uint64_t docs = version == 1 ? 0 : get_le(data + kDocsAt, 8);
  const uint64_t flags = version == 1 ? 0 : get_le(data + kFlagsAt, 8);
  const uint64_t meta = version == 1 ? 0 : get_le(data + kMetaAt, 8);
  if (flags & ~kHasLoss) bad(path, "unknown flags " + std::to_string(flags) + " in the header", kRewrite);
  // Every section's size is checked against what is left before it is multiplied out, so no sum overflows.
  uint64_t left = size - header;
  auto take = [&](uint64_t items, uint64_t item_bytes, const char* what) {
    if (items > left / item_bytes)
      bad(path, std::string("truncated: the header promises more ") + what + " than the file holds",
          "the write was interrupted or the copy is incomplete; copy or regenerate it");
    left -= items * item_bytes;
    return items * item_bytes;
  };
  const uint64_t token_bytes = take(count, width, "tokens");
  const uint64_t doc_bytes = take(docs, 8, "document ends");
  const uint64_t loss_bytes = (flags & kHasLoss) ? take((count + 7) / 8, 1, "loss-mask bytes") : 0;
  take(meta, 1, "metadata bytes");
  if (left != 0) bad(path, std::to_string(left) + " unexpected bytes after the end of the data", kRewrite);
  if (version == 2 && count > 0 && docs == 0) bad(path, "tokens but no document ends", kRewrite);

  TokenFile out;
  out.version = static_cast<int>(version);
  out.vocab = static_cast<int64_t>(vocab);
  out.bytes_per_token = static_cast<int>(width);
  out.tokens.resize(count);
  const uint8_t* p = data + header;
  for (uint64_t i = 0; i < count; ++i, p += width) {
    uint64_t t = get_le(p, static_cast<int>(width));
    if (t >= vocab)
      bad(path,
          "token " + std::to_string(t) + " at index " + std::to_string(i) + " is >= the vocab size " +
              std::to_string(vocab) + " in the header",
          kRewrite);
    out.tokens[i] = static_cast<int32_t>(t);
  }
  (void)token_bytes;
  (void)doc_bytes;
  out.document_ends.resize(docs);
  uint64_t previous = 0;
  for (uint64_t d = 0; d < docs; ++d, p += 8) {
    uint64_t end = get_le(p, 8);
    if (end <= previous || end > count)
      bad(path,
          "document " + std::to_string(d) + " ends at " + std::to_string(end) + ", not after the previous end " +
              std::to_string(previous) + " and within the " + std::to_string(count) + " tokens",
          kRewrite);
    out.document_ends[d] = static_cast<int64_t>(end);
    previous = end;
  }
  if (docs > 0 && previous != count) bad(path, "the last document does not end at the last token", kRewrite);
  if (loss_bytes) {
    out.loss.resize(count);
    for (uint64_t i = 0; i < count; ++i) out.loss[i] = (p[i / 8] >> (i % 8)) & 1;
    p += loss_bytes;
  }
  out.meta.assign(reinterpret_cast<const char*>(p), meta);
  return out;
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
  if (version == kTokenFileVersion2) {
    std::string all(size, '\0');
    f.seekg(0);
    if (!f.read(all.data(), static_cast<std::streamsize>(size))) bad(path, "read error", "check the disk and the file");
    return parse_token_file(path, all);
  }
  if (version != kTokenFileVersion)
    bad(path,
        "version " + std::to_string(version) + " is not supported (this build reads version " +
            std::to_string(kTokenFileVersion) + " and " + std::to_string(kTokenFileVersion2) + ")",
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
