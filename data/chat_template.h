// Chat templates: the Jinja subset that Hugging Face `chat_template`s (in
// tokenizer_config.json) are written in, interpreted by our own code so the
// rendered text is byte-identical to Python jinja2 as transformers runs it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "frontend/json_file.h"

namespace horizon::data {

/// Bounds on one render, so a hostile template cannot hang or exhaust memory;
/// exceeding one is a UserError.
struct ChatTemplateLimits {
  size_t max_output_bytes = size_t{64} << 20;  // also bounds any one string or list value
  int64_t max_loop_iterations = 10'000'000;    // all loops of the render together
  int max_call_depth = 64;                     // macro calls nested in macro calls
};

class ChatTemplate {
 public:
  /// Parses `source`; `origin` names it in errors ("DIR/tokenizer_config.json:
  /// chat_template"). UserError naming the template line and column.
  static ChatTemplate parse(const std::string& source, const std::string& origin);

  /// Renders with `variables` as the template's globals: "messages" (list of
  /// {"role", "content", ...}), "add_generation_prompt", "tools",
  /// "bos_token", "eos_token", "enable_thinking", ... as transformers'
  /// apply_chat_template passes them (raise_exception and strftime_now
  /// included). transformers always passes "tools": null, "documents": null
  /// and add_generation_prompt, plus the special tokens; pass them too, since
  /// a variable left out is jinja2's Undefined, which `is none` and
  /// `is defined` tell apart from null. UserError naming the template line
  /// and column for a runtime error or a raise_exception() call (its message
  /// verbatim).
  std::string render(const frontend::Json& variables, const ChatTemplateLimits& limits = {}) const;

  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;
  ~ChatTemplate();

 private:
  struct Program;
  explicit ChatTemplate(std::unique_ptr<Program> program);
  std::unique_ptr<Program> program_;
};

}  // namespace horizon::data
