// Cache keys, and the cache file as a token file whose metadata holds the stats.
#include "data/token_cache.h"

#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "data/token_file.h"
#include "frontend/json_file.h"
#include "support/error.h"

namespace horizon::data {
namespace fs = std::filesystem;

// Bump when the tokens produced from the same inputs change (a masking rule, a row format).
constexpr const char* kCacheFormat = "horizon-token-cache-1";

void ContentHash::add(std::string_view bytes) {
  for (unsigned char c : bytes) fnv_ = (fnv_ ^ c) * 1099511628211ull;
  crc_ = crc32(crc_, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size()));
}

void ContentHash::add_field(std::string_view bytes) {
  add(std::to_string(bytes.size()) + ":");
  add(bytes);
}

std::string ContentHash::hex() const {
  char out[32];
  std::snprintf(out, sizeof(out), "%016llx%08lx", static_cast<unsigned long long>(fnv_), crc_ & 0xffffffffUL);
  return out;
}

std::string cache_key(const CacheInputs& in) {
  ContentHash h;
  h.add_field(kCacheFormat);
  h.add_field(in.tokenizer);
  h.add_field(in.chat_template);
  h.add_field(in.options);
  for (const DataFile& f : in.files) {
    // The file's bytes and its name (the name is in error messages and decides the format), not its folder.
    h.add_field(fs::path(f.path).filename().string());
    std::ifstream file(f.path, std::ios::binary);
    if (!file) throw_user_error(f.path, "", "cannot read the file", "check its permissions");
    std::string chunk(1 << 20, '\0');
    uint64_t size = 0;
    while (file.read(chunk.data(), static_cast<std::streamsize>(chunk.size())) || file.gcount() > 0) {
      h.add(std::string_view(chunk.data(), static_cast<size_t>(file.gcount())));
      size += static_cast<uint64_t>(file.gcount());
    }
    h.add_field(std::to_string(size));
  }
  return h.hex();
}

std::string default_cache_dir() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return std::string(xdg) + "/horizon/tokens";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.cache/horizon/tokens";
  return "";
}

std::optional<DocumentSet> load_cached(const std::string& dir, const std::string& key, int64_t vocab,
                                       DataStats& stats) {
  const std::string path = dir + "/" + key + ".tokens";
  std::error_code ec;
  if (dir.empty() || !fs::is_regular_file(path, ec)) return std::nullopt;
  TokenFile t;
  frontend::Json meta;
  try {
    t = read_token_file(path);
    meta = frontend::Json::parse(t.meta);
  } catch (const std::exception&) {
    return std::nullopt;  // a damaged cache entry is rebuilt (and overwritten), not an error
  }
  if (t.version != 2 || t.vocab > vocab || !meta.is_object() || meta.value("key", "") != key) return std::nullopt;
  const frontend::Json s = meta.value("stats", frontend::Json::object());
  stats.files += s.value("files", int64_t{0});
  stats.rows += s.value("rows", int64_t{0});
  stats.bad_rows += s.value("bad_rows", int64_t{0});
  if (stats.first_bad_row.empty()) stats.first_bad_row = s.value("first_bad_row", "");
  stats.empty_documents += s.value("empty_documents", int64_t{0});
  stats.documents_without_loss += s.value("documents_without_loss", int64_t{0});
  stats.straddling_boundaries += s.value("straddling_boundaries", int64_t{0});
  return DocumentSet::from_flat(std::move(t.tokens), std::move(t.loss), std::move(t.document_ends));
}

std::string store_cached(const std::string& dir, const std::string& key, const DocumentSet& documents, int64_t vocab,
                         const DataStats& stats) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw_user_error(dir, "", "cannot create the token cache folder: " + ec.message(), "pass --cache-dir DIR");
  TokenFile t;
  t.version = 2;
  t.vocab = vocab;
  t.tokens = documents.all_tokens();
  t.loss = documents.all_loss();
  t.document_ends = documents.ends();
  t.meta = frontend::Json{{"key", key},
                          {"format", kCacheFormat},
                          {"stats",
                           {{"files", stats.files},
                            {"rows", stats.rows},
                            {"bad_rows", stats.bad_rows},
                            {"first_bad_row", stats.first_bad_row},
                            {"empty_documents", stats.empty_documents},
                            {"documents_without_loss", stats.documents_without_loss},
                            {"straddling_boundaries", stats.straddling_boundaries}}}}
               .dump();
  const std::string path = dir + "/" + key + ".tokens";
  write_token_file_v2(path, t);
  return path;
}

}  // namespace horizon::data
