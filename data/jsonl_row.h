// One JSONL row of training data, in the formats TRL's SFTTrainer reads:
//   {"text": "..."}                                  language modeling
//   {"prompt": "...", "completion": "..."}           prompt-completion
//   {"prompt": [messages], "completion": [messages]}  conversational prompt-completion
//   {"messages": [{"role": "...", "content": "..."}, ...]}  conversation
// The kind is decided by which fields are present (messages, then prompt +
// completion, then text); other fields are ignored. Errors name FILE:LINE and
// the field, so a user can open the row.
#pragma once

#include <string>
#include <string_view>

#include "frontend/json_file.h"

namespace horizon::data {

struct RowFields {
  std::string text = "text";
  std::string messages = "messages";
  std::string prompt = "prompt";
  std::string completion = "completion";
};

struct JsonlRow {
  enum class Kind { text, prompt_completion, messages };
  Kind kind = Kind::text;
  std::string text;                // Kind::text
  std::string prompt, completion;  // Kind::prompt_completion with strings
  // Kind::messages: the conversation. Kind::prompt_completion with message
  // lists: prompt_messages and completion_messages, and `messages` is empty.
  frontend::Json messages, prompt_messages, completion_messages;
  frontend::Json tools;  // the row's "tools" list, passed to the chat template; null if absent
  bool conversational() const { return kind == Kind::messages || !prompt_messages.is_null(); }
};

/// Parses one line. `where` is "FILE:LINE" for errors. UserError naming the
/// field and what was expected; a blank line is not a row (the caller skips it).
/// UserError naming `where` and `field` unless `list` is a non-empty list of
/// {"role": string, "content": string|null|list, ...} messages.
void check_messages(const frontend::Json& list, const std::string& field, const std::string& where);

JsonlRow parse_jsonl_row(std::string_view line, const std::string& where, const RowFields& fields);

/// `line` as a JSON object; UserError naming `where` when it is not valid
/// JSON or not an object (every JSONL reader's first check).
frontend::Json parse_jsonl_object(std::string_view line, const std::string& where);

}  // namespace horizon::data
