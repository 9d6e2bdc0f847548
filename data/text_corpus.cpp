// The folder walk behind read_text_corpus: our own recursion rather than
// recursive_directory_iterator, because following symlinks there has no cycle
// check and a link to a parent folder would recurse until the path is too long.
#include "data/text_corpus.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "data/byte_tokenizer.h"
#include "support/error.h"

namespace horizon::data {
namespace fs = std::filesystem;
namespace {

std::string read_bytes(const fs::path& file, const std::string& root) {
  std::ifstream f(file, std::ios::binary);
  if (!f)
    throw_user_error(root, file.string(), "cannot read the file",
                     "check its permissions, or remove it from the folder");
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

fs::path canonical_or_throw(const fs::path& p, const std::string& root) {
  std::error_code ec;
  fs::path c = fs::canonical(p, ec);
  if (ec)
    throw_user_error(root, p.string(), "cannot resolve the path: " + ec.message(),
                     "check the path and its permissions");
  return c;
}

/// Collects regular files under `dir`; folders already visited (a symlink
/// cycle, or two links to one folder) are walked once.
void walk(const fs::path& dir, const std::string& root, std::set<fs::path>& seen_dirs, std::vector<fs::path>& files,
          CorpusSummary& summary) {
  if (!seen_dirs.insert(canonical_or_throw(dir, root)).second) return;
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  if (ec) throw_user_error(root, dir.string(), "cannot list the folder: " + ec.message(), "check its permissions");
  for (; it != end; it.increment(ec)) {
    if (ec) throw_user_error(root, dir.string(), "cannot list the folder: " + ec.message(), "check its permissions");
    const fs::path& p = it->path();
    if (p.filename().string().starts_with(".")) {
      ++summary.skipped_hidden;
      continue;
    }
    fs::file_status st = fs::status(p, ec);  // follows symlinks; a broken link is neither file nor folder
    if (ec) continue;
    if (fs::is_directory(st))
      walk(p, root, seen_dirs, files, summary);
    else if (fs::is_regular_file(st))
      files.push_back(p);
  }
}

void append_document(std::vector<int32_t>& tokens, const std::string& text, const Tokenizer& tokenizer) {
  if (text.empty()) return;
  if (!tokens.empty())
    for (int32_t id : tokenizer.encode("\n")) tokens.push_back(id);
  for (int32_t id : tokenizer.encode(text)) tokens.push_back(id);
}

}  // namespace

std::vector<int32_t> read_text_corpus(const std::string& path, CorpusSummary& summary, const Tokenizer* tokenizer) {
  const ByteTokenizer bytes;
  const Tokenizer& tok = tokenizer ? *tokenizer : bytes;
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st))
    throw_user_error(path, "", "no such file or folder", "pass a text file, a folder of text files or a token file");
  std::vector<int32_t> tokens;
  if (!fs::is_directory(st) && !fs::is_regular_file(st))
    throw_user_error(path, "",
                     "not a regular file or folder (a device, pipe or socket): its end is unknown, so reading "
                     "it could exhaust memory",
                     "write the data to a file first");
  if (!fs::is_directory(st)) {
    // A file named explicitly is taken as text whatever it contains: the user asked for it.
    std::string text = read_bytes(path, path);
    summary.files_read = 1;
    summary.bytes_read = static_cast<int64_t>(text.size());
    append_document(tokens, text, tok);
    return tokens;
  }
  std::set<fs::path> seen_dirs;
  std::vector<fs::path> files;
  walk(path, path, seen_dirs, files, summary);
  std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) { return a.native() < b.native(); });
  std::set<fs::path> seen_files;
  for (const fs::path& file : files) {
    if (file.extension() == ".dat") {
      ++summary.skipped_binary;
      continue;
    }
    if (!seen_files.insert(canonical_or_throw(file, path)).second) {
      ++summary.skipped_duplicate;
      continue;
    }
    std::string text = read_bytes(file, path);
    if (std::memchr(text.data(), '\0', text.size())) {
      ++summary.skipped_binary;
      continue;
    }
    ++summary.files_read;
    summary.bytes_read += static_cast<int64_t>(text.size());
    append_document(tokens, text, tok);
  }
  return tokens;
}

}  // namespace horizon::data
