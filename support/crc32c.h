// CRC-32C (Castagnoli), the checksum of checkpoint manifests. Chosen over
// SHA-256 (about 0.5 GB/s per core, far slower than the disk) and xxHash (not
// installed by default on Debian) because x86-64 computes it in hardware
// (SSE4.2 crc32, ~8 GB/s on one core) and it is what other checkpoint and
// storage formats use (iSCSI, ext4 metadata, Google Cloud Storage, TFRecord),
// so a user can check a file with a stock tool. A table-driven fallback runs
// where the instruction is missing; both give the same value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace horizon {

/// Continues a CRC-32C over `bytes` bytes; start with crc = 0.
uint32_t crc32c(uint32_t crc, const void* data, size_t bytes);

/// CRC-32C of a whole file, read in large blocks; UserError if it cannot be read.
uint32_t crc32c_file(const std::string& path, uint64_t* size = nullptr);

/// 0x1234abcd -> "1234abcd".
std::string crc32c_hex(uint32_t crc);

}  // namespace horizon
