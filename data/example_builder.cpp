// Tokens and loss bits of each row format (the rules are in the header).
#include "data/example_builder.h"

#include "support/error.h"

namespace horizon::data {
namespace {

void append_eos(Example& e, const Tokenizer& tok) {
  std::optional<int32_t> eos = tok.eos_id();
  if (!eos || (!e.tokens.empty() && e.tokens.back() == *eos)) return;
  e.tokens.push_back(*eos);
  e.loss.push_back(1);
}

Example from_masked(MaskedTokens m) { return Example{std::move(m.tokens), std::move(m.loss), m.straddling}; }

Example train_all(Example e) {
  std::fill(e.loss.begin(), e.loss.end(), 1);
  return e;
}

}  // namespace

LossOn parse_loss_on(const std::string& value) {
  if (value == "completion" || value == "assistant") return LossOn::completion;
  if (value == "all") return LossOn::all;
  throw UserError("--loss-on must be completion (alias assistant) or all, got '" + value + "'");
}

Example build_text_example(std::string_view text, const ExampleOptions& o) {
  Example e;
  e.tokens = o.tokenizer->encode(text, true);
  e.loss.assign(e.tokens.size(), 1);
  append_eos(e, *o.tokenizer);
  return e;
}

Example build_row_example(const JsonlRow& row, const ExampleOptions& o, const std::string& where) {
  const Tokenizer& tok = *o.tokenizer;
  if (row.kind == JsonlRow::Kind::text) return build_text_example(row.text, o);
  if (row.conversational() && !o.render_chat)
    throw_user_error(where, "", "a chat row needs the model's chat template, and the model has none",
                     "pass --chat-template FILE (a Jinja file), or use {\"text\"} rows");
  frontend::Json globals = o.globals.is_object() ? o.globals : frontend::Json::object();
  if (!row.tools.is_null()) globals["tools"] = row.tools;
  Example e;
  if (row.conversational() && o.loss_on == LossOn::all) {
    // Every token trains: no spans to find, so any template works.
    frontend::Json vars = globals;
    frontend::Json messages = row.messages;
    if (row.kind != JsonlRow::Kind::messages) {
      messages = row.prompt_messages;
      for (const frontend::Json& m : row.completion_messages) messages.push_back(m);
    }
    vars["messages"] = messages;
    vars["add_generation_prompt"] = false;
    e.tokens = tok.encode(o.render_chat(vars), false);
    e.loss.assign(e.tokens.size(), 1);
    return e;
  }
  if (row.kind == JsonlRow::Kind::messages) {
    RenderedChat chat = render_assistant_spans(o.render_chat, row.messages, globals, where);
    e = from_masked(mask_spans(tok, chat.text, chat.spans, false));
  } else if (row.conversational()) {
    RenderedChat chat =
        render_completion_span(o.render_chat, row.prompt_messages, row.completion_messages, globals, where);
    e = from_masked(mask_spans(tok, chat.text, chat.spans, false));
  } else {
    const std::string whole = row.prompt + row.completion;
    e = from_masked(mask_spans(tok, whole, {CharSpan{row.prompt.size(), whole.size()}}, true));
    // The completion's edge at the end of the text is never inside a token.
    append_eos(e, tok);
  }
  return o.loss_on == LossOn::all ? train_all(std::move(e)) : e;
}

}  // namespace horizon::data
