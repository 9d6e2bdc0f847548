// Listing --data paths and reading (gunzipping) one file.
#include "data/data_files.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "data/token_file.h"
#include "support/error.h"

namespace horizon::data {
namespace fs = std::filesystem;
namespace {

bool ends_with(const std::string& s, const char* suffix) { return s.ends_with(suffix); }

bool is_jsonl_name(const std::string& name) {
  return ends_with(name, ".jsonl") || ends_with(name, ".jsonl.gz") || ends_with(name, ".ndjson");
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw_user_error(path, "", "cannot read the file", "check the path and its permissions");
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

std::string gunzip(const std::string& path, const std::string& packed) {
  std::string out;
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) throw_user_error(path, "gzip", "cannot start zlib", "");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(packed.data()));
  zs.avail_in = static_cast<uInt>(packed.size());
  char buffer[1 << 16];
  for (;;) {
    zs.next_out = reinterpret_cast<Bytef*>(buffer);
    zs.avail_out = sizeof(buffer);
    int rc = inflate(&zs, Z_NO_FLUSH);
    out.append(buffer, sizeof(buffer) - zs.avail_out);
    if (rc == Z_STREAM_END) {
      if (zs.avail_in == 0) break;
      inflateReset(&zs);  // concatenated gzip members (cat a.gz b.gz) are one file to gunzip
      continue;
    }
    if (rc != Z_OK) {
      std::string msg = zs.msg ? zs.msg : "error " + std::to_string(rc);
      inflateEnd(&zs);
      throw_user_error(path, "gzip", "corrupt compressed data (" + msg + ")", "re-download or re-compress the file");
    }
    if (zs.avail_in == 0 && zs.avail_out != 0) {
      inflateEnd(&zs);
      throw_user_error(path, "gzip", "truncated compressed data", "the copy is incomplete; copy it again");
    }
  }
  inflateEnd(&zs);
  return out;
}

DataFile classify(const fs::path& p) {
  const std::string name = p.filename().string();
  if (is_jsonl_name(name)) return {p.string(), DataFormat::jsonl};
  if (is_token_file(p.string())) return {p.string(), DataFormat::token_file};
  return {p.string(), DataFormat::text};
}

bool looks_binary(const fs::path& p) {
  if (p.extension() == ".dat") return true;
  std::ifstream f(p, std::ios::binary);
  char head[4096];
  f.read(head, sizeof(head));
  return std::memchr(head, '\0', static_cast<size_t>(f.gcount())) != nullptr;
}

}  // namespace

std::vector<std::string> split_paths(const std::string& spec) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= spec.size()) {
    size_t comma = spec.find(',', start);
    if (comma == std::string::npos) comma = spec.size();
    if (comma > start) out.push_back(spec.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

std::vector<DataFile> list_data_files(const std::string& spec) {
  std::vector<DataFile> out;
  const std::vector<std::string> paths = split_paths(spec);
  if (paths.empty())
    throw_user_error("--data", "", "names no path", "pass a file or folder, or several joined by commas");
  for (const std::string& path : paths) {
    std::error_code ec;
    if (!fs::exists(path, ec))
      throw_user_error(path, "", "no such file or folder",
                       "pass JSONL, text or token files, or folders of them (several joined by commas)");
    if (!fs::is_directory(path, ec)) {
      out.push_back(classify(path));  // named explicitly: taken whatever it contains
      continue;
    }
    std::vector<fs::path> files;
    auto it = fs::recursive_directory_iterator(path, fs::directory_options::skip_permission_denied, ec);
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->path().filename().string().starts_with(".")) {
        if (it->is_directory()) it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file()) files.push_back(it->path());
    }
    if (ec) throw_user_error(path, "", "cannot list the folder: " + ec.message(), "check its permissions");
    std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) { return a.native() < b.native(); });
    size_t before = out.size();
    for (const fs::path& f : files) {
      DataFile d = classify(f);
      if (d.format == DataFormat::text && looks_binary(f)) continue;
      out.push_back(d);
    }
    if (out.size() == before)
      throw_user_error(path, "", "the folder holds no data files", "add .jsonl, .jsonl.gz or text files");
  }
  return out;
}

std::string read_data_file(const std::string& path) {
  std::string bytes = slurp(path);
  if (bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f && static_cast<unsigned char>(bytes[1]) == 0x8b)
    return gunzip(path, bytes);
  return bytes;
}

}  // namespace horizon::data
