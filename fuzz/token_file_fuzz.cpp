// libFuzzer target for token files (versions 1 and 2) parsed from memory:
// header fields, section sizes that must not overflow, document ends and the
// loss mask. Only UserError may leave the parser.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "data/token_file.h"
#include "support/error.h"

int horizon_fuzz_token_file(const uint8_t* data, size_t size) {
  try {
    horizon::data::TokenFile f =
        horizon::data::parse_token_file("fuzz", std::string_view(reinterpret_cast<const char*>(data), size));
    if (!f.loss.empty() && f.loss.size() != f.tokens.size()) __builtin_trap();
    if (!f.document_ends.empty() && f.document_ends.back() != static_cast<int64_t>(f.tokens.size())) __builtin_trap();
  } catch (const horizon::UserError&) {
  }
  return 0;
}
