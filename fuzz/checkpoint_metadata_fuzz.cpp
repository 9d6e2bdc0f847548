// A checkpoint's JSON files (cli/checkpoint_manifest.cpp, cli/checkpoint_state.cpp):
// the first byte picks manifest.json or trainer_state.json, the rest is the file.
#include "cli/checkpoint_manifest.h"
#include "cli/checkpoint_state.h"
#include "fuzz/fuzz_support.h"
#include "support/error.h"

int horizon_fuzz_checkpoint_metadata(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  try {
    if (data[0] & 1) {
      horizon::fuzz::write_input("manifest.json", data + 1, size - 1);
      horizon::cli::verify_manifest(horizon::fuzz::scratch_dir());
    } else {
      horizon::cli::read_training_state(horizon::fuzz::write_input("trainer_state.json", data + 1, size - 1));
    }
  } catch (const horizon::UserError&) {
  }
  return 0;
}
