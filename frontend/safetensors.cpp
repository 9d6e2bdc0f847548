// The reading half of frontend/safetensors.h: map, validate the whole header
// against the file size, then hand out views or f32 copies of tensors.
#include "frontend/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "support/bf16.h"
#include "support/error.h"

namespace horizon::frontend {
namespace {

// Every dtype the reference implementation defines with a whole-byte size, so
// files that also hold integer or boolean tensors (position ids, masks) still open.
int dtype_bytes(const std::string& dtype) {
  static const std::map<std::string, int> sizes = {{"F64", 8}, {"F32", 4}, {"F16", 2},  {"BF16", 2},    {"I64", 8},
                                                   {"I32", 4}, {"I16", 2}, {"I8", 1},   {"U64", 8},     {"U32", 4},
                                                   {"U16", 2}, {"U8", 1},  {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
  auto it = sizes.find(dtype);
  return it == sizes.end() ? 0 : it->second;
}

const char* kDamaged = "the file is damaged or incomplete; copy or save it again";

}  // namespace

struct SafetensorsFile::Mapping {
  void* addr = MAP_FAILED;
  size_t size = 0;
  ~Mapping() {
    if (addr != MAP_FAILED) ::munmap(addr, size);
  }
};

int64_t SafetensorsEntry::elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  auto fail = [&](const std::string& place, const std::string& problem, const std::string& fix = kDamaged) {
    throw_user_error(path, place, problem, fix);
  };
  SafetensorsFile f;
  f.path_ = path;
  auto map = std::make_shared<Mapping>();
  {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail("", std::string("cannot open: ") + std::strerror(errno), "check the path and its permissions");
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      fail("", "not a regular file", "pass a .safetensors file");
    }
    map->size = static_cast<size_t>(st.st_size);
    if (map->size < 8) {
      ::close(fd);
      fail("header",
           "truncated: " + std::to_string(map->size) + " bytes, but the file must start with an 8-byte header length");
    }
    map->addr = ::mmap(nullptr, map->size, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    ::close(fd);
    if (map->addr == MAP_FAILED) fail("", std::string("cannot map the file: ") + std::strerror(err), "");
  }
  const auto* base = static_cast<const uint8_t*>(map->addr);
  uint64_t header_len = 0;
  for (int i = 0; i < 8; ++i) header_len |= static_cast<uint64_t>(base[i]) << (8 * i);
  if (base[0] == '{')
    fail("", "this is a JSON file, not a safetensors file",
         "for sharded weights pass the model directory or its model.safetensors.index.json");
  if (header_len > kSafetensorsMaxHeader)
    fail("header", "header length " + std::to_string(header_len) + " exceeds the 100 MB limit of the format",
         "this is not a safetensors file, or it is damaged");
  if (header_len > map->size - 8)
    fail("header", "truncated: the header needs " + std::to_string(header_len) + " bytes but the file has " +
                       std::to_string(map->size - 8) + " after the length");
  const uint64_t data_size = map->size - 8 - header_len;
  const char* text = reinterpret_cast<const char*>(base + 8);
  if (header_len == 0 || text[0] != '{') fail("header", "does not start with '{'", "this is not a safetensors file");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text, text + header_len);
  } catch (const nlohmann::json::exception& e) {  // syntax errors, and numbers beyond double (out_of_range)
    fail("header", std::string("not valid JSON: ") + e.what());
  }
  if (!header.is_object()) fail("header", "must be a JSON object");

  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") {
      if (!info.is_object()) fail("__metadata__", "must be an object of strings");
      for (const auto& [k, v] : info.items()) {
        if (!v.is_string()) fail("__metadata__." + k, "must be a string, got " + v.dump());
        f.metadata_[k] = v.get<std::string>();
      }
      continue;
    }
    SafetensorsEntry e;
    e.name = name;
    if (!info.is_object() || !info.contains("dtype") || !info["dtype"].is_string() || !info.contains("shape") ||
        !info["shape"].is_array() || !info.contains("data_offsets") || !info["data_offsets"].is_array())
      fail(name, "must be an object with \"dtype\", \"shape\" and \"data_offsets\"");
    e.dtype = info["dtype"].get<std::string>();
    const int size = dtype_bytes(e.dtype);
    if (size == 0) fail(name, "unknown dtype '" + e.dtype + "'", "supported are F32, F16, BF16 and the integer types");
    int64_t elements = 1;
    for (const auto& d : info["shape"]) {
      if (!d.is_number_unsigned()) fail(name + ".shape", "dimensions must be non-negative integers, got " + d.dump());
      auto dim = d.get<uint64_t>();
      if (dim > static_cast<uint64_t>(INT64_MAX) || (dim > 0 && elements > INT64_MAX / 8 / static_cast<int64_t>(dim)))
        fail(name + ".shape", "shape " + info["shape"].dump() + " is too large");
      e.shape.push_back(static_cast<int64_t>(dim));
      elements *= static_cast<int64_t>(dim);
    }
    const auto& off = info["data_offsets"];
    if (off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      fail(name + ".data_offsets", "must be [begin, end] with non-negative integers, got " + off.dump());
    e.begin = off[0].get<uint64_t>();
    e.end = off[1].get<uint64_t>();
    if (e.end < e.begin) fail(name + ".data_offsets", "end is before begin: " + off.dump());
    if (e.end > data_size)
      fail(name + ".data_offsets", "range " + off.dump() + " lies beyond the " + std::to_string(data_size) +
                                       " bytes of data (truncated file?)");
    if (e.end - e.begin != static_cast<uint64_t>(elements) * static_cast<uint64_t>(size))
      fail(name, e.dtype + " shape " + info["shape"].dump() + " needs " + std::to_string(elements * size) +
                     " bytes but data_offsets " + off.dump() + " span " + std::to_string(e.end - e.begin));
    f.tensors_.push_back(std::move(e));
  }

  // The format requires the tensors to tile the data exactly: no overlap (one
  // byte read as two tensors) and no hole (bytes no tensor owns).
  std::vector<const SafetensorsEntry*> by_offset;
  for (const auto& e : f.tensors_) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const auto* a, const auto* b) { return a->begin != b->begin ? a->begin < b->begin : a->end < b->end; });
  uint64_t covered = 0;
  const SafetensorsEntry* previous = nullptr;
  for (const auto* e : by_offset) {
    if (e->begin < covered)
      fail(e->name + ".data_offsets", "overlaps tensor '" + previous->name + "' (starts at " +
                                          std::to_string(e->begin) + ", before " + std::to_string(covered) + ")");
    if (e->begin > covered)
      fail(e->name + ".data_offsets",
           "leaves a hole of " + std::to_string(e->begin - covered) + " bytes before it that no tensor owns");
    covered = e->end;
    previous = e;
  }
  if (covered != data_size)
    fail("data", std::to_string(data_size - covered) + " bytes after the last tensor that no tensor owns");

  std::sort(f.tensors_.begin(), f.tensors_.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  f.data_ = base + 8 + header_len;
  f.map_ = std::move(map);
  return f;
}

const SafetensorsEntry* SafetensorsFile::find(const std::string& name) const {
  auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                             [](const SafetensorsEntry& e, const std::string& n) { return e.name < n; });
  return it != tensors_.end() && it->name == name ? &*it : nullptr;
}

const SafetensorsEntry& SafetensorsFile::at(const std::string& name) const {
  if (const SafetensorsEntry* e = find(name)) return *e;
  throw_user_error(path_, name, "no such tensor in the file (it has " + std::to_string(tensors_.size()) + ")",
                   "check that the checkpoint belongs to this model");
}

void SafetensorsFile::prefetch() const {
  if (map_ && map_->addr != MAP_FAILED)
    ::madvise(map_->addr, map_->size, MADV_WILLNEED);  // advice only: errors ignored
}

std::span<const uint8_t> SafetensorsFile::bytes(const std::string& name) const {
  const SafetensorsEntry& e = at(name);
  return {data_ + e.begin, static_cast<size_t>(e.end - e.begin)};
}

std::vector<uint8_t> SafetensorsFile::read_bytes(const std::string& name) const {
  std::span<const uint8_t> b = bytes(name);
  return {b.begin(), b.end()};
}

std::vector<float> SafetensorsFile::read_f32(const std::string& name) const {
  std::vector<float> out(static_cast<size_t>(at(name).elements()));
  read_f32(name, out);
  return out;
}

void SafetensorsFile::read_f32(const std::string& name, std::span<float> out) const {
  const SafetensorsEntry& e = at(name);
  if (static_cast<int64_t>(out.size()) != e.elements())
    throw_user_error(
        path_, name,
        "has " + std::to_string(e.elements()) + " elements, but " + std::to_string(out.size()) + " were expected",
        "check that the checkpoint belongs to this model");
  const uint8_t* p = data_ + e.begin;
  // memcpy per element: the format does not promise aligned tensors.
  if (e.dtype == "F32") {
    if (!out.empty()) std::memcpy(out.data(), p, out.size() * sizeof(float));  // an empty span's data() may be null
  } else if (e.dtype == "BF16" || e.dtype == "F16") {
    const bool bf16 = e.dtype == "BF16";
    for (size_t i = 0; i < out.size(); ++i) {
      uint16_t h;
      std::memcpy(&h, p + 2 * i, 2);
      out[i] = bf16 ? bf16_to_float(h) : f16_to_float(h);
    }
  } else {
    throw_user_error(path_, name, "dtype " + e.dtype + " cannot be read as floating point",
                     "only F32, BF16 and F16 tensors are loaded as weights");
  }
}

}  // namespace horizon::frontend
