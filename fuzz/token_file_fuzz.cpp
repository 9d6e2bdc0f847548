// A token file (data/token_file.cpp, docs/token-file.md), versions 1 and 2:
// read from a file as training reads it, and parsed from memory — header,
// widths, counts, vocab, section sizes that must not overflow, document ends
// and the loss mask. Only UserError may leave either.
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
  try {
    horizon::data::TokenFile f =
        horizon::data::parse_token_file("fuzz", std::string_view(reinterpret_cast<const char*>(data), size));
    if (!f.loss.empty() && f.loss.size() != f.tokens.size()) __builtin_trap();
    if (!f.document_ends.empty() && f.document_ends.back() != static_cast<int64_t>(f.tokens.size())) __builtin_trap();
  } catch (const horizon::UserError&) {
  }
  return 0;
}
