// Where each assistant turn is in a rendered conversation. The conversation is
// rendered once, whole (that text is what gets tokenized). For assistant
// message i, the template is asked for messages[:i] with the generation prompt
// and for messages[:i+1]; when the first is a prefix of the second and the
// second a prefix of the whole, the turn is the difference — everything the
// model must generate, including the end-of-turn token. Templates that are not
// prefix-stable (Qwen3 drops the <think> of earlier turns) fall back to
// finding the message's content in the whole text, after the rendered prefix,
// plus the turn's closing text as the template writes it; a content that
// cannot be found, or found more than once where the turn may start, is an
// error — never a guess.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "data/token_spans.h"
#include "frontend/json_file.h"

namespace horizon::data {

/// Renders the chat template with these variables ("messages",
/// "add_generation_prompt", "tools", "bos_token", ...).
using ChatRenderer = std::function<std::string(const frontend::Json& variables)>;

struct RenderedChat {
  std::string text;             // the whole conversation, add_generation_prompt false
  std::vector<CharSpan> spans;  // the assistant turns, in order
  int64_t unstable_turns = 0;   // turns located by the content search
};

/// `globals` are merged into every render's variables (bos_token, eos_token,
/// tools, ...). UserError naming `where` and the message index when a turn
/// cannot be located.
RenderedChat render_assistant_spans(const ChatRenderer& render, const frontend::Json& messages,
                                    const frontend::Json& globals, const std::string& where);

/// The conversational prompt-completion form: prompt rendered with the
/// generation prompt, then prompt + completion; the span is the difference.
RenderedChat render_completion_span(const ChatRenderer& render, const frontend::Json& prompt,
                                    const frontend::Json& completion, const frontend::Json& globals,
                                    const std::string& where);

}  // namespace horizon::data
