// libFuzzer target for DPO preference rows: every line of the input is parsed
// as a {"prompt" | "messages", "chosen", "rejected"} row and, when it parses,
// turned into the chosen and rejected sequences with the byte tokenizer and a
// ChatML renderer (TRL's common-prefix rule sees hostile templates' output
// too). Only UserError may leave them; anything else escaping is a bug.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "data/byte_tokenizer.h"
#include "data/preference_pairs.h"
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

void check(const horizon::data::Example& e) {
  if (e.tokens.size() != e.loss.size() || e.tokens.size() < 2) __builtin_trap();
}

}  // namespace

int horizon_fuzz_preference(const uint8_t* data, size_t size) {
  static const horizon::data::ByteTokenizer tokenizer;
  horizon::data::ExampleOptions options;
  options.tokenizer = &tokenizer;
  options.render_chat = chatml;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  size_t start = 0;
  for (int line = 1; start <= text.size(); ++line) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view row = text.substr(start, end - start);
    try {
      (void)horizon::data::is_preference_row(row);
      const std::string where = "fuzz:" + std::to_string(line);
      const auto parsed = horizon::data::parse_preference_row(row, where, {});
      const auto pair = horizon::data::build_preference_pair(parsed, options, where);
      check(pair.chosen);
      check(pair.rejected);
    } catch (const horizon::UserError&) {
    }
    start = end + 1;
  }
  return 0;
}
