// A Hugging Face config.json (frontend/hf_config.cpp) imported as a model, then read as one.
#include "frontend/hf_config.h"
#include "frontend/json_file.h"
#include "frontend/model_json.h"
#include "fuzz/fuzz_support.h"
#include "support/error.h"

int horizon_fuzz_hf_config(const uint8_t* data, size_t size) {
  try {
    const horizon::frontend::Json doc =
        horizon::frontend::parse_json_text(std::string(reinterpret_cast<const char*>(data), size), "config.json");
    horizon::frontend::module_from_json(horizon::frontend::import_hf_config(doc, "config.json"), "config.json");
  } catch (const horizon::UserError&) {
  }
  return 0;
}
