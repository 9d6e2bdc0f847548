// The native model file (frontend/model_json.cpp): JSON text to a verified module.
#include "frontend/json_file.h"
#include "frontend/model_json.h"
#include "fuzz/fuzz_support.h"
#include "support/error.h"

int horizon_fuzz_model_json(const uint8_t* data, size_t size) {
  try {
    const horizon::frontend::Json doc =
        horizon::frontend::parse_json_text(std::string(reinterpret_cast<const char*>(data), size), "fuzz.json");
    horizon::frontend::module_from_json(doc, "fuzz.json");
  } catch (const horizon::UserError&) {
  }
  return 0;
}
