// libFuzzer target for JSONL training rows: every line of the input is parsed
// as a row and, when it parses, turned into tokens and loss bits with the
// byte tokenizer and a ChatML renderer — the row parser, the assistant-span
// search and the span-to-token mapping all see hostile input. Only UserError
// may leave them; anything else escaping (or a crash) is a bug.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "data/byte_tokenizer.h"
#include "data/example_builder.h"
#include "data/jsonl_row.h"
#include "support/error.h"

namespace {

std::string chatml(const horizon::frontend::Json& v) {
  std::string out;
  for (const auto& m : v["messages"]) {
    const auto& content = m.contains("content") ? m["content"] : horizon::frontend::Json();
    out += "<|im_start|>" + m["role"].get<std::string>() + "\n" +
           (content.is_string() ? content.get<std::string>() : content.dump()) + "<|im_end|>\n";
  }
  if (v.value("add_generation_prompt", false)) out += "<|im_start|>assistant\n";
  return out;
}

}  // namespace

int horizon_fuzz_jsonl(const uint8_t* data, size_t size) {
  static const horizon::data::ByteTokenizer tokenizer;
  horizon::data::ExampleOptions options;
  options.tokenizer = &tokenizer;
  options.render_chat = chatml;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  size_t start = 0;
  for (int line = 1; start <= text.size(); ++line) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    try {
      auto row = horizon::data::parse_jsonl_row(text.substr(start, end - start), "fuzz:" + std::to_string(line), {});
      auto example = horizon::data::build_row_example(row, options, "fuzz");
      if (example.tokens.size() != example.loss.size()) __builtin_trap();
    } catch (const horizon::UserError&) {
    }
    start = end + 1;
  }
  return 0;
}
