// libFuzzer target for chat templates: the input is a template, parsed and
// rendered with one fixed conversation (system, user, assistant with
// reasoning and tool calls, tool response) and tight limits, so runaway
// loops, deep nesting and huge outputs end as UserErrors instead of hangs.
// Only UserError may leave the parser and renderer; anything else escaping
// (or a crash) is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "data/chat_template.h"
#include "frontend/json_file.h"
#include "support/error.h"

namespace {

const horizon::frontend::Json& conversation() {
  static const horizon::frontend::Json variables = horizon::frontend::Json::parse(R"({
    "messages": [
      {"role": "system", "content": "You are helpful."},
      {"role": "user", "content": "Weather in Zürich? 🙂"},
      {"role": "assistant", "content": "<think>\nlook it up\n</think>\n\n", "reasoning_content": "look it up",
       "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Zürich", "days": 2, "hourly": false}}}]},
      {"role": "tool", "content": "{\"temperature\": 21.5}"},
      {"role": "assistant", "content": "It is 21.5 °C."}
    ],
    "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
    "documents": null,
    "add_generation_prompt": true,
    "enable_thinking": false,
    "bos_token": "<s>",
    "eos_token": "</s>"
  })");
  return variables;
}

}  // namespace

int horizon_fuzz_chat_template(const uint8_t* data, size_t size) {
  horizon::data::ChatTemplateLimits limits;
  limits.max_output_bytes = 1 << 16;
  limits.max_loop_iterations = 20000;
  limits.max_call_depth = 16;
  const std::string source(reinterpret_cast<const char*>(data), size);
  try {
    const auto t = horizon::data::ChatTemplate::parse(source, "fuzz");
    const std::string text = t.render(conversation(), limits);
    if (text.size() > limits.max_output_bytes) __builtin_trap();
  } catch (const horizon::UserError&) {
  }
  return 0;
}
