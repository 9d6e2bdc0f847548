// A safetensors file (frontend/safetensors.cpp): header validation, then
// every float tensor read (bounded, so a valid huge tensor is not a timeout).
#include <vector>

#include "frontend/safetensors.h"
#include "fuzz/fuzz_support.h"
#include "support/error.h"

int horizon_fuzz_safetensors(const uint8_t* data, size_t size) {
  try {
    const std::string path = horizon::fuzz::write_input("fuzz.safetensors", data, size);
    const horizon::frontend::SafetensorsFile file = horizon::frontend::SafetensorsFile::open(path);
    for (const auto& t : file.tensors()) {
      if (t.elements() > (1 << 20)) continue;
      if (t.dtype == "F32" || t.dtype == "BF16" || t.dtype == "F16") {
        std::vector<float> values = file.read_f32(t.name);
        (void)values;
      } else {
        (void)file.bytes(t.name);
      }
    }
  } catch (const horizon::UserError&) {
  }
  return 0;
}
