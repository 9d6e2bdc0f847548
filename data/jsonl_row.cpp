// JSONL row parsing and the shape checks behind each format's error message.
#include "data/jsonl_row.h"

#include "support/error.h"

namespace horizon::data {
namespace {

using frontend::Json;

[[noreturn]] void bad_row(const std::string& where, const std::string& field, const std::string& problem,
                          const std::string& fix) {
  throw_user_error(where, field.empty() ? "" : "field \"" + field + "\"", problem, fix);
}

std::string expect_string(const Json& row, const std::string& field, const std::string& where) {
  const Json& v = row.at(field);
  if (!v.is_string())
    bad_row(where, field, "is " + frontend::json_type_name(v) + ", expected a string",
            "write the text as a JSON string");
  return v.get<std::string>();
}

}  // namespace

/// A list of {"role": string, "content": string|null, ...} objects; other keys
/// (tool_calls, reasoning_content, name) pass through to the chat template.
void check_messages(const Json& list, const std::string& field, const std::string& where) {
  if (!list.is_array())
    bad_row(where, field, "is " + frontend::json_type_name(list) + ", expected a list of messages",
            "write [{\"role\": \"user\", \"content\": \"...\"}, ...]");
  if (list.empty()) bad_row(where, field, "is an empty list", "give at least one message");
  for (size_t i = 0; i < list.size(); ++i) {
    const Json& m = list[i];
    const std::string at = field + "[" + std::to_string(i) + "]";
    if (!m.is_object())
      bad_row(where, at, "is " + frontend::json_type_name(m) + ", expected an object with \"role\" and \"content\"",
              "");
    auto role = m.find("role");
    if (role == m.end() || !role->is_string())
      bad_row(where, at + ".role", role == m.end() ? "is missing" : "is not a string",
              "give each message a role: system, user, assistant or tool");
    auto content = m.find("content");
    const bool has_tool_calls = m.contains("tool_calls");
    if (content == m.end() && !has_tool_calls)
      bad_row(where, at + ".content", "is missing", "give each message its content (a string)");
    if (content != m.end() && !content->is_string() && !content->is_null() && !content->is_array())
      bad_row(where, at + ".content", "is " + frontend::json_type_name(*content) + ", expected a string", "");
  }
}

Json parse_jsonl_object(std::string_view line, const std::string& where) {
  Json row;
  try {
    row = Json::parse(line.begin(), line.end());
  } catch (const nlohmann::json::exception& e) {
    std::string what = e.what();
    if (auto at = what.find("] "); at != std::string::npos) what = what.substr(at + 2);
    bad_row(where, "", "not valid JSON: " + what, "each line must be one JSON object; fix or remove the row");
  }
  if (!row.is_object())
    bad_row(where, "", "is " + frontend::json_type_name(row) + ", expected a JSON object",
            "each line must be one JSON object");
  return row;
}

JsonlRow parse_jsonl_row(std::string_view line, const std::string& where, const RowFields& fields) {
  const Json row = parse_jsonl_object(line, where);
  JsonlRow out;
  if (auto tools = row.find("tools"); tools != row.end() && !tools->is_null()) {
    if (!tools->is_array()) bad_row(where, "tools", "is " + frontend::json_type_name(*tools) + ", expected a list", "");
    out.tools = *tools;
  }
  if (row.contains(fields.messages)) {
    out.kind = JsonlRow::Kind::messages;
    check_messages(row[fields.messages], fields.messages, where);
    out.messages = row[fields.messages];
    return out;
  }
  const bool has_prompt = row.contains(fields.prompt), has_completion = row.contains(fields.completion);
  if (has_prompt && has_completion) {
    out.kind = JsonlRow::Kind::prompt_completion;
    const Json& p = row[fields.prompt];
    const Json& c = row[fields.completion];
    if (p.is_array() || c.is_array()) {
      // TRL's conversational prompt-completion: both sides are message lists.
      check_messages(p, fields.prompt, where);
      check_messages(c, fields.completion, where);
      out.prompt_messages = p;
      out.completion_messages = c;
    } else {
      out.prompt = expect_string(row, fields.prompt, where);
      out.completion = expect_string(row, fields.completion, where);
    }
    return out;
  }
  if (row.contains(fields.text)) {
    out.text = expect_string(row, fields.text, where);
    return out;
  }
  if (has_prompt != has_completion)
    bad_row(where, has_prompt ? fields.completion : fields.prompt, "is missing",
            "a prompt-completion row needs both \"" + fields.prompt + "\" and \"" + fields.completion + "\"");
  std::string keys;
  for (auto it = row.begin(); it != row.end(); ++it) keys += (keys.empty() ? "" : ", ") + it.key();
  bad_row(where, "",
          "has none of the fields \"" + fields.text + "\", \"" + fields.messages + "\" or \"" + fields.prompt +
              "\" + \"" + fields.completion + "\" (it has: " + (keys.empty() ? "none" : keys) + ")",
          "rename the field with --text-field or --messages-field");
}

}  // namespace horizon::data
