// Which files `--data` names: a comma-separated list of files and folders
// (folders walked recursively in sorted path order, hidden entries skipped),
// each file classified by name and content: JSONL (.jsonl, .jsonl.gz),
// token files (the HZTOKENS magic, any name) and plain text (the rest; binary
// files in folders — *.dat, or containing NUL — are skipped).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace horizon::data {

enum class DataFormat { text, jsonl, token_file };

struct DataFile {
  std::string path;
  DataFormat format = DataFormat::text;
};

/// The files of `spec` ("a.jsonl,dir/,b.txt"), in order: each path as given,
/// a folder's files sorted. UserError naming a path that does not exist or a
/// folder without data files.
std::vector<DataFile> list_data_files(const std::string& spec);

/// The file's bytes, decompressed when it is gzip (by its magic, whatever the
/// name). UserError naming the file for a read error or corrupt gzip data.
std::string read_data_file(const std::string& path);

/// Splits `spec` at commas (empty parts dropped).
std::vector<std::string> split_paths(const std::string& spec);

}  // namespace horizon::data
