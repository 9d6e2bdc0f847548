// Preference rows for DPO, in TRL's formats, and the token sequences of a
// pair as TRL's DPOTrainer builds them:
//   {"prompt": "...", "chosen": "...", "rejected": "..."}      standard
//   {"prompt": [messages], "chosen": [messages], "rejected": [messages]}
//   {"messages": [messages], "chosen": [...], "rejected": [...]}  the same,
//     with the prompt conversation under "messages"
// Strings are concatenated as they are (no chat template, as TRL): each
// sequence is tokenize(prompt) + tokenize(response) + EOS, both without
// special tokens. Message lists are rendered with the chat template: the
// prompt with the generation prompt, then prompt + response; the response
// text is what the second adds to the part both share (TRL's common-prefix
// rule). Only the response tokens and the EOS carry loss.
#pragma once

#include <string>
#include <string_view>

#include "data/example_builder.h"
#include "frontend/json_file.h"

namespace horizon::data {

struct PreferenceRow {
  bool conversational = false;
  std::string prompt, chosen, rejected;                                // strings
  frontend::Json prompt_messages, chosen_messages, rejected_messages;  // message lists
  frontend::Json tools;                                                // null if absent
};

/// The two sequences of a pair: chosen, then rejected.
struct PreferencePair {
  Example chosen, rejected;
};

/// Whether `line` (a JSONL row) has "chosen" and "rejected": preference data.
bool is_preference_row(std::string_view line);

/// Parses one line; UserError naming `where` (FILE:LINE) and the field.
PreferenceRow parse_preference_row(std::string_view line, const std::string& where, const RowFields& fields);

/// The tokens and loss bits of both sequences (UserError naming `where`).
PreferencePair build_preference_pair(const PreferenceRow& row, const ExampleOptions& options, const std::string& where);

}  // namespace horizon::data
