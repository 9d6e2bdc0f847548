// A token file (data/token_file.cpp, docs/token-file.md): header, widths, counts, vocab.
#include "data/token_file.h"
#include "fuzz/fuzz_support.h"
#include "support/error.h"

int horizon_fuzz_token_file(const uint8_t* data, size_t size) {
  try {
    const std::string path = horizon::fuzz::write_input("fuzz.tokens", data, size);
    horizon::data::TokenFile f = horizon::data::read_token_file(path);
    (void)f;
  } catch (const horizon::UserError&) {
  }
  return 0;
}
