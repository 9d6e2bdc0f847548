// The writing half of frontend/safetensors.h: validates every tensor before
// creating any file, then streams header and tensor bytes through an atomic
// writer without copying the tensors. The layout is the reference writer's
// (safetensors 0.8: wider dtypes first, then by name; checked byte for byte
// against it), which also keeps every tensor aligned to its element size.
#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "frontend/safetensors.h"
#include "support/atomic_file.h"
#include "support/error.h"

namespace horizon::frontend {

std::string safetensors_dtype(ir::DType dtype, const std::string& tensor) {
  switch (dtype) {
    case ir::DType::f32:
      return "F32";
    case ir::DType::bf16:
      return "BF16";
    case ir::DType::f16:
      return "F16";
    default:
      break;
  }
  throw_user_error(tensor, "dtype",
                   std::string("cannot store ") + ir::dtype_name(dtype) + " in a safetensors checkpoint",
                   "convert the tensor to f32, bf16 or f16");
}

void write_safetensors(const std::string& path, std::vector<SafetensorsTensorRef> tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::sort(tensors.begin(), tensors.end(), [](const auto& a, const auto& b) {
    // F32 before BF16 before F16 (the reference's dtype order), names within a dtype.
    auto weight = [](const SafetensorsTensorRef& t) {
      return t.u8 ? 2 : ir::dtype_size(t.dtype) * 2 + (t.dtype == ir::DType::bf16);
    };
    int wa = weight(a), wb = weight(b);
    return wa != wb ? wa > wb : a.name < b.name;
  });
  // ordered_json keeps "__metadata__" first and the tensors in data order, as the reference writer does.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> names;
  std::vector<uint64_t> sizes;
  uint64_t offset = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const SafetensorsTensorRef& t = tensors[i];
    if (t.name.empty() || t.name == "__metadata__")
      throw_user_error(path, "tensor '" + t.name + "'", "is not a valid tensor name", "use a non-empty name");
    if (!names.insert(t.name).second)
      throw_user_error(path, t.name, "two tensors have this name", "give each tensor its own name");
    const std::string dtype = t.u8 ? "U8" : safetensors_dtype(t.dtype, path + ": " + t.name);
    uint64_t bytes = t.u8 ? 1 : static_cast<uint64_t>(ir::dtype_size(t.dtype));
    for (int64_t d : t.shape) {
      if (d < 0) throw_user_error(path, t.name, "negative dimension " + std::to_string(d) + " in its shape", "");
      bytes *= static_cast<uint64_t>(d);
    }
    if (bytes > 0 && t.data == nullptr) throw_user_error(path, t.name, "has no data", "");
    header[t.name] = {{"dtype", dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    sizes.push_back(bytes);
    offset += bytes;
  }
  std::string text = header.dump();
  // Pad with spaces (valid JSON whitespace) so the data starts 8-byte aligned, letting readers map tensors in place.
  text.append((8 - text.size() % 8) % 8, ' ');
  uint8_t length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<uint8_t>(static_cast<uint64_t>(text.size()) >> (8 * i));

  AtomicFileWriter out(path, "safetensors file");
  out.write(length, sizeof(length));
  out.write(text);
  for (size_t i = 0; i < tensors.size(); ++i) out.write(tensors[i].data, sizes[i]);
  out.commit();
}

}  // namespace horizon::frontend
