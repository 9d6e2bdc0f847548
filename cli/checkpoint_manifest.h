// A checkpoint's manifest.json: every file of the checkpoint with its size
// and CRC-32C (support/crc32c.h says why that checksum), and the step. It
// is written last, so a checkpoint folder whose manifest is missing or does
// not match its files is incomplete or damaged and is never loaded.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace horizon::cli {

struct ManifestEntry {
  std::string file;  // name within the checkpoint folder
  uint64_t bytes = 0;
  uint32_t crc32c = 0;
};

struct Manifest {
  int64_t step = 0;
  std::vector<ManifestEntry> files;
};

/// Measures `files` (names within `dir`) and writes DIR/manifest.json atomically.
void write_manifest(const std::string& dir, int64_t step, const std::vector<std::string>& files);

/// Reads DIR/manifest.json; UserError if it is missing or malformed.
Manifest read_manifest(const std::string& dir);

/// Reads the manifest and checks every file's size and checksum; UserError
/// naming the first file that is missing, of the wrong size or damaged.
Manifest verify_manifest(const std::string& dir);

}  // namespace horizon::cli
