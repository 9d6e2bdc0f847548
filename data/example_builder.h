// One training example from one piece of data: the tokens the model sees and
// which of them carry loss. What TRL's SFTTrainer does, format by format:
//   text (a text file or {"text"}): tokenize(text) with the tokenizer's special
//     tokens (BOS where the tokenizer adds one), then EOS; every token trains.
//   {"prompt", "completion"} strings: tokenize(prompt + completion) + EOS; the
//     tokens after those of tokenize(prompt) train (EOS included).
//   conversational prompt-completion and {"messages"}: the chat template renders
//     the conversation (it writes BOS and closes every turn itself, so nothing is
//     added); the assistant turns / the completion train (data/chat_spans.h).
// --loss-on all trains every token of every format.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "data/chat_spans.h"
#include "data/jsonl_row.h"
#include "data/tokenizer.h"

namespace horizon::data {

enum class LossOn { completion, all };

/// "completion" / "assistant" (the same: what the model must generate) or "all".
LossOn parse_loss_on(const std::string& value);

struct ExampleOptions {
  const Tokenizer* tokenizer = nullptr;
  ChatRenderer render_chat;  // empty: the model has no chat template
  frontend::Json globals;    // template variables besides messages (bos_token, eos_token)
  LossOn loss_on = LossOn::completion;
};

struct Example {
  std::vector<int32_t> tokens;
  std::vector<uint8_t> loss;
  int64_t straddling = 0;
};

Example build_text_example(std::string_view text, const ExampleOptions& options);

/// `where` ("FILE:LINE") names the row in errors.
Example build_row_example(const JsonlRow& row, const ExampleOptions& options, const std::string& where);

}  // namespace horizon::data
