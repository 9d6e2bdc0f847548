#include "data/preference_pairs.h"

#include <algorithm>

#include "data/jsonl_row.h"
#include "support/error.h"

namespace horizon::data {
namespace {

using frontend::Json;

[[noreturn]] void bad_row(const std::string& where, const std::string& field, const std::string& problem,
                          const std::string& fix) {
  throw_user_error(where, field.empty() ? "" : "field \"" + field + "\"", problem, fix);
}

std::string common_prefix(const std::string& a, const std::string& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return a.substr(0, n);
}

Example sequence(const Tokenizer& tok, const std::string& prompt, const std::string& response, const std::string& where,
                 const char* field) {
  Example e;
  e.tokens = tok.encode(prompt, false);
  e.loss.assign(e.tokens.size(), 0);
  const std::vector<int32_t> answer = tok.encode(response, false);
  e.tokens.insert(e.tokens.end(), answer.begin(), answer.end());
  if (std::optional<int32_t> eos = tok.eos_id()) e.tokens.push_back(*eos);
  e.loss.resize(e.tokens.size(), 1);
  if (std::count(e.loss.begin() + std::min<ptrdiff_t>(1, std::ssize(e.loss)), e.loss.end(), uint8_t{1}) == 0)
    bad_row(where, field, "has no token to train on (an empty response, and a tokenizer without EOS)",
            "give a non-empty response");
  if (e.tokens.size() < 2)
    bad_row(where, field, "makes a sequence of " + std::to_string(e.tokens.size()) + " token(s): nothing is predicted",
            "give a prompt or a longer response");
  return e;
}

}  // namespace

bool is_preference_row(std::string_view line) {
  Json row = Json::parse(line.begin(), line.end(), nullptr, false);
  return row.is_object() && row.contains("chosen") && row.contains("rejected");
}

PreferenceRow parse_preference_row(std::string_view line, const std::string& where, const RowFields& fields) {
  const Json row = parse_jsonl_object(line, where);
  PreferenceRow out;
  for (const char* f : {"chosen", "rejected"})
    if (!row.contains(f))
      bad_row(where, f, "is missing", "a preference row needs \"prompt\", \"chosen\" and \"rejected\"");
  std::string prompt_field = fields.prompt;
  if (!row.contains(prompt_field)) prompt_field = fields.messages;
  if (!row.contains(prompt_field))
    bad_row(where, fields.prompt, "is missing",
            "give the prompt as \"" + fields.prompt + "\" (a string or a list of messages) or as \"" + fields.messages +
                "\" (a list of messages)");
  if (auto tools = row.find("tools"); tools != row.end() && !tools->is_null()) {
    if (!tools->is_array()) bad_row(where, "tools", "is " + frontend::json_type_name(*tools) + ", expected a list", "");
    out.tools = *tools;
  }
  const Json &p = row[prompt_field], &c = row["chosen"], &r = row["rejected"];
  out.conversational = p.is_array();
  if (out.conversational) {
    check_messages(p, prompt_field, where);
    check_messages(c, "chosen", where);
    check_messages(r, "rejected", where);
    out.prompt_messages = p;
    out.chosen_messages = c;
    out.rejected_messages = r;
    return out;
  }
  for (const auto& [field, value] : {std::pair{prompt_field, &p}, {"chosen", &c}, {"rejected", &r}})
    if (!value->is_string())
      bad_row(where, field, "is " + frontend::json_type_name(*value) + ", expected a string",
              prompt_field == fields.messages
                  ? "\"" + fields.messages + "\" must be a list of messages"
                  : "write prompt, chosen and rejected all as strings, or all as lists of messages");
  out.prompt = p.get<std::string>();
  out.chosen = c.get<std::string>();
  out.rejected = r.get<std::string>();
  return out;
}

PreferencePair build_preference_pair(const PreferenceRow& row, const ExampleOptions& o, const std::string& where) {
  const Tokenizer& tok = *o.tokenizer;
  if (!row.conversational)
    return {sequence(tok, row.prompt, row.chosen, where, "chosen"),
            sequence(tok, row.prompt, row.rejected, where, "rejected")};
  if (!o.render_chat)
    throw_user_error(where, "", "a row of message lists needs the model's chat template, and the model has none",
                     "pass --chat-template FILE (a Jinja file), or write prompt, chosen and rejected as strings");
  Json vars = o.globals.is_object() ? o.globals : Json::object();
  if (!row.tools.is_null()) vars["tools"] = row.tools;
  const std::string last_role = row.prompt_messages.back().value("role", "");
  if (last_role == "assistant")
    throw_user_error(where, "field \"prompt\"", "ends with an assistant message (TRL continues that message)",
                     "end the prompt with a user turn; put the answer in chosen/rejected");
  auto render = [&](const Json& messages, bool generation_prompt) {
    Json v = vars;
    v["messages"] = messages;
    v["add_generation_prompt"] = generation_prompt;
    return o.render_chat(v);
  };
  auto joined = [&](const Json& response) {
    Json all = row.prompt_messages;
    for (const Json& m : response) all.push_back(m);
    return render(all, false);
  };
  // TRL's maybe_apply_chat_template: the prompt shrinks to the part it shares
  // with each rendered conversation (templates such as DeepSeek-R1's add text
  // after the generation prompt); chosen is cut before rejected shrinks it again.
  std::string prompt = render(row.prompt_messages, true);
  const std::string prompt_chosen = joined(row.chosen_messages);
  prompt = common_prefix(prompt, prompt_chosen);
  const std::string chosen = prompt_chosen.substr(prompt.size());
  const std::string prompt_rejected = joined(row.rejected_messages);
  prompt = common_prefix(prompt, prompt_rejected);
  const std::string rejected = prompt_rejected.substr(prompt.size());
  return {sequence(tok, prompt, chosen, where, "chosen"), sequence(tok, prompt, rejected, where, "rejected")};
}

}  // namespace horizon::data
