// Fuzz target for the model.safetensors.index.json parser
// (frontend/safetensors_index.h): any input is parsed or refused with a
// UserError; anything else escaping is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "frontend/safetensors_index.h"
#include "support/error.h"

int horizon_fuzz_safetensors_index(const uint8_t* data, size_t size) {
  try {
    const horizon::frontend::SafetensorsIndex index = horizon::frontend::parse_safetensors_index(
        std::string(reinterpret_cast<const char*>(data), size), "fuzz.index.json");
    (void)index.shards();
  } catch (const horizon::UserError&) {
  }
  return 0;
}
