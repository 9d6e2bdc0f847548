// libFuzzer target for Hugging Face tokenizer.json: the input is a
// tokenizer.json document, a NUL byte, then a text (without a NUL the text is
// a fixed sample). Parse, encode (with and without special tokens), decode.
// Only UserError may leave the tokenizer; IDs must lie below vocab_size().
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "data/hf_tokenizer.h"
#include "support/error.h"

int horizon_fuzz_tokenizer(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string document(input.substr(0, nul));
  const std::string text = nul == std::string_view::npos
                               ? std::string("Hello, world! <s> 12345 \xE4\xBD\xA0\xE5\xA5\xBD  \n")
                               : std::string(input.substr(nul + 1));
  try {
    const horizon::data::HfTokenizer tokenizer("fuzz/tokenizer.json", document);
    for (bool special : {false, true}) {
      const std::vector<int32_t> ids = tokenizer.encode(text, special);
      for (int32_t id : ids)
        if (id < 0 || id >= tokenizer.vocab_size()) __builtin_trap();
      tokenizer.decode(ids);
    }
  } catch (const horizon::UserError&) {
  }
  return 0;
}
