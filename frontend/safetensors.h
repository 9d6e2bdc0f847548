// The safetensors checkpoint format (Hugging Face): an 8-byte little-endian
// header length N, N bytes of JSON mapping each tensor name to {"dtype",
// "shape", "data_offsets": [begin, end)} (offsets into the data that follows)
// plus an optional "__metadata__" of string -> string, then the data. Reading
// maps the file and checks every offset before any tensor is touched, so a
// damaged file is a UserError, never a crash or a silently wrong tensor.
// Writing is atomic (support/atomic_file.h).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ir/types.h"

namespace horizon::frontend {

/// The safetensors reference implementation refuses headers above 100 MB.
inline constexpr uint64_t kSafetensorsMaxHeader = 100'000'000;

/// One tensor listed in a file's header.
struct SafetensorsEntry {
  std::string name;
  std::string dtype;  // as spelled in the file: "BF16", "F16", "F32", "I64", ...
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte range within the data section
  int64_t elements() const;
};

/// A safetensors file opened for reading (memory-mapped). Move-only in
/// spirit; copies share the mapping. Views it returns live as long as it does.
class SafetensorsFile {
 public:
  /// Maps and validates `path`. UserError naming the file and the problem: too
  /// short or truncated, header length beyond the file or above 100 MB, header
  /// not JSON, an unknown dtype, a shape that does not match the byte range,
  /// offsets out of range, overlapping or leaving holes in the data.
  static SafetensorsFile open(const std::string& path);

  const std::string& path() const { return path_; }
  /// All tensors, sorted by name.
  const std::vector<SafetensorsEntry>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  /// The tensor named `name`, or nullptr.
  const SafetensorsEntry* find(const std::string& name) const;
  /// The tensor named `name`; UserError if the file has none.
  const SafetensorsEntry& at(const std::string& name) const;

  /// Starts reading the whole file into the page cache in the background
  /// (madvise WILLNEED), so a loader can overlap the next file's disk reads
  /// with converting this one. Returns at once.
  void prefetch() const;

  /// The tensor's bytes as stored (little-endian), without copying.
  std::span<const uint8_t> bytes(const std::string& name) const;
  std::vector<uint8_t> read_bytes(const std::string& name) const;
  /// The tensor converted to f32 (from BF16, F16 or F32; other dtypes:
  /// UserError naming the tensor and its dtype).
  std::vector<float> read_f32(const std::string& name) const;
  /// As above into `out`, whose size must equal the tensor's element count.
  void read_f32(const std::string& name, std::span<float> out) const;

 private:
  struct Mapping;
  std::string path_;
  std::shared_ptr<const Mapping> map_;
  const uint8_t* data_ = nullptr;  // start of the data section
  std::vector<SafetensorsEntry> tensors_;
  std::map<std::string, std::string> metadata_;
};

/// One tensor to write. `data` holds elements * dtype_size bytes in the
/// machine's (little-endian) layout and must stay valid during the call.
struct SafetensorsTensorRef {
  std::string name;
  ir::DType dtype = ir::DType::f32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  bool u8 = false;  // raw bytes, dtype "U8" (8-bit optimizer moments), instead of `dtype`
};

/// Writes a safetensors file atomically: PATH.tmp, fsync, rename, so an
/// interrupted save leaves the previous file intact. The bytes are those the
/// reference writer produces: "__metadata__" first, tensors ordered F32, BF16,
/// F16, U8 and by name within a dtype (so each is aligned to its element size),
/// the header padded with spaces to a multiple of 8 bytes.
/// UserError for an unsupported dtype (f32, bf16, f16 are), a duplicate or
/// empty name, a negative dimension, or a write failure.
void write_safetensors(const std::string& path, std::vector<SafetensorsTensorRef> tensors,
                       const std::map<std::string, std::string>& metadata = {});

/// "F32", "BF16", "F16"; UserError naming `tensor` for other dtypes.
std::string safetensors_dtype(ir::DType dtype, const std::string& tensor);

}  // namespace horizon::frontend
