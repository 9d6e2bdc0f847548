// Chat templates rendered by our Jinja interpreter must be byte-identical to
// Python jinja2 as transformers configures it: goldens from
// scripts/generate_chat_template_goldens.py for the real Qwen3 and Llama 3
// templates (skipped without build/test-data) and for feature templates of
// our own (never skipped), plus error messages, limits and a planted bug.
#include "data/chat_template.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>

#include "frontend/json_file.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

using data::ChatTemplate;
using frontend::Json;

std::vector<Json> read_jsonl(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << path;
  std::vector<Json> rows;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) rows.push_back(Json::parse(line));
  return rows;
}

std::string golden_path(const std::string& name) { return testing::source_path("tests/golden/chat_templates/" + name); }

// Where two renders first differ, for a readable failure.
std::string first_difference(const std::string& expected, const std::string& actual) {
  size_t i = 0;
  while (i < expected.size() && i < actual.size() && expected[i] == actual[i]) ++i;
  const size_t from = i < 40 ? 0 : i - 40;
  auto quoted = [&](const std::string& s) {
    return Json(s.substr(from, 100)).dump(-1, ' ', false, Json::error_handler_t::replace);
  };
  return "first difference at byte " + std::to_string(i) + "\n  expected: " + quoted(expected) +
         "\n  actual:   " + quoted(actual);
}

// Renders one golden row with `t`; "" when it matches jinja2's text or error.
std::string check_row(const ChatTemplate& t, const Json& row) {
  std::string actual;
  try {
    actual = t.render(row.at("variables"));
  } catch (const UserError& e) {
    if (!row.contains("error")) return std::string("unexpected error: ") + e.what();
    const std::string expected_error = row.at("error");
    if (row.value("raised", false) && std::string(e.what()).find(expected_error) == std::string::npos)
      return "raise_exception message lost: got " + std::string(e.what()) + ", want " + expected_error;
    return "";
  }
  if (row.contains("error"))
    return "rendered " + Json(actual).dump() + " where jinja2 failed: " + row.at("error").get<std::string>();
  const std::string expected = row.at("expected");
  return actual == expected ? "" : first_difference(expected, actual);
}

// The checker of the real-template goldens: the rows that `t` renders differently.
std::vector<std::string> check_rows(const ChatTemplate& t, const std::vector<Json>& rows) {
  std::vector<std::string> failures;
  for (size_t i = 0; i < rows.size(); ++i)
    if (std::string problem = check_row(t, rows[i]); !problem.empty())
      failures.push_back("row " + std::to_string(i + 1) + ": " + problem);
  return failures;
}

std::string real_template(const std::string& config_path) {
  return frontend::parse_json_file(config_path).at("chat_template").get<std::string>();
}

void expect_real_template_goldens(const std::string& config_path, const std::string& golden) {
  const ChatTemplate t = ChatTemplate::parse(real_template(config_path), config_path + ": chat_template");
  const std::vector<Json> rows = read_jsonl(golden_path(golden));
  ASSERT_GE(rows.size(), 200u);
  const std::vector<std::string> failures = check_rows(t, rows);
  for (size_t i = 0; i < failures.size() && i < 5; ++i) ADD_FAILURE() << golden << " " << failures[i];
  EXPECT_TRUE(failures.empty()) << failures.size() << " of " << rows.size() << " renders differ from jinja2";
}

TEST(ChatTemplate, Qwen3GoldensMatchJinja2) {
  HORIZON_TEST_DATA_OR_SKIP(config, "qwen3/tokenizer_config.json");
  expect_real_template_goldens(config, "qwen3.jsonl");
}

TEST(ChatTemplate, Llama3GoldensMatchJinja2) {
  HORIZON_TEST_DATA_OR_SKIP(config, "llama3/tokenizer_config.json");
  expect_real_template_goldens(config, "llama3.jsonl");
}

// Feature templates carry their own source, so they never need test data.
std::string check_feature(const Json& row) {
  const std::string name = row.at("name");
  try {
    const ChatTemplate t = ChatTemplate::parse(row.at("template"), "features.jsonl: " + name);
    return check_row(t, row);
  } catch (const UserError& e) {
    if (row.contains("error")) return "";  // jinja2 rejects the template too
    return std::string("unexpected syntax error: ") + e.what();
  }
}

TEST(ChatTemplate, FeatureGoldensMatchJinja2) {
  const std::vector<Json> rows = read_jsonl(golden_path("features.jsonl"));
  ASSERT_GE(rows.size(), 100u);
  int failures = 0;
  for (const Json& row : rows) {
    const std::string problem = check_feature(row);
    if (problem.empty()) continue;
    ++failures;
    ADD_FAILURE() << row.at("name").get<std::string>() << ": " << problem
                  << "\n  template: " << row.at("template").dump();
  }
  EXPECT_EQ(failures, 0) << "of " << rows.size() << " feature templates";
}

// The checker must catch a one-character change in a template.
TEST(ChatTemplate, PlantedTemplateBugIsCaught) {
  const std::vector<Json> rows = read_jsonl(golden_path("features.jsonl"));
  const auto it =
      std::find_if(rows.begin(), rows.end(), [](const Json& r) { return r.at("name") == "chat_style_template"; });
  ASSERT_NE(it, rows.end());
  std::string source = it->at("template");
  const size_t at = source.find("'[INST] '");
  ASSERT_NE(at, std::string::npos);
  source.replace(at, 9, "'[INST]'");
  const ChatTemplate planted = ChatTemplate::parse(source, "planted");
  const std::string problem = check_row(planted, *it);
  EXPECT_NE(problem.find("first difference at byte"), std::string::npos) << problem;
}

// And a changed variable in a real-template golden row.
TEST(ChatTemplate, PlantedVariableBugIsCaught) {
  HORIZON_TEST_DATA_OR_SKIP(config, "qwen3/tokenizer_config.json");
  const ChatTemplate t = ChatTemplate::parse(real_template(config), "qwen3");
  std::vector<Json> rows = read_jsonl(golden_path("qwen3.jsonl"));
  rows.resize(20);
  EXPECT_TRUE(check_rows(t, rows).empty());
  for (Json& row : rows)
    row["variables"]["add_generation_prompt"] = !row["variables"]["add_generation_prompt"].get<bool>();
  EXPECT_EQ(check_rows(t, rows).size(), rows.size());
}

TEST(ChatTemplate, SyntaxErrorNamesOriginLineAndColumn) {
  testing::expect_user_error([] { ChatTemplate::parse("hello\n  {{ 1 + }}", "cfg.json: chat_template"); },
                             {"cfg.json: chat_template", "line 2, column 10", "syntax error"});
  testing::expect_user_error([] { ChatTemplate::parse("a\nb\n{% if x %}\nno end", "t"); }, {"t: line 4", "'endif'"});
  testing::expect_user_error([] { ChatTemplate::parse("{% frobnicate %}", "t"); }, {"line 1, column 4", "frobnicate"});
  testing::expect_user_error([] { ChatTemplate::parse("x\n{# open", "t"); }, {"line 2, column 1", "comment"});
  testing::expect_user_error([] { ChatTemplate::parse("ok\nbad \xff byte", "t"); }, {"line 2, column 5", "UTF-8"});
}

TEST(ChatTemplate, RuntimeErrorNamesOriginLineAndColumn) {
  const ChatTemplate t =
      ChatTemplate::parse("line one\n{% for m in messages %}\n  {{ m.content + 1 }}\n{% endfor %}", "origin");
  const Json vars = Json::parse(R"({"messages": [{"role": "user", "content": "hi"}]})");
  testing::expect_user_error([&] { t.render(vars); }, {"origin: line 3, column", "can only concatenate str"});
  const ChatTemplate u = ChatTemplate::parse("\n\n{{ nope.attr }}", "origin");
  testing::expect_user_error([&] { u.render(Json::object()); }, {"origin: line 3", "'nope' is undefined"});
}

TEST(ChatTemplate, RaiseExceptionMessagePassesThrough) {
  const ChatTemplate t = ChatTemplate::parse(
      "{% if messages[0].role != 'user' %}\n{{ raise_exception('Only user messages, got ' ~ messages[0].role) }}\n{% "
      "endif %}",
      "tokenizer_config.json: chat_template");
  testing::expect_user_error([&] { t.render(Json::parse(R"({"messages": [{"role": "tool", "content": ""}]})")); },
                             {"tokenizer_config.json: chat_template: line 2", "Only user messages, got tool"});
  EXPECT_EQ(t.render(Json::parse(R"({"messages": [{"role": "user", "content": ""}]})")), "");
}

TEST(ChatTemplate, GenerationBlockRendersItsBody) {
  const ChatTemplate t = ChatTemplate::parse("a{% generation %}b{{ x }}{% endgeneration %}c", "t");
  EXPECT_EQ(t.render(Json::parse(R"({"x": 1})")), "ab1c");
}

TEST(ChatTemplate, StrftimeNowFormatsTheCurrentTime) {
  const ChatTemplate t = ChatTemplate::parse("{{ strftime_now('%Y') }}", "t");
  const int year = std::stoi(t.render(Json::object()));
  EXPECT_GE(year, 2024);
}

TEST(ChatTemplate, VariablesMustBeAnObject) {
  const ChatTemplate t = ChatTemplate::parse("x", "t");
  testing::expect_user_error([&] { t.render(Json::array()); }, {"t", "JSON object"});
}

// Limits turn runaway templates into prompt UserErrors.
TEST(ChatTemplate, LimitsStopRunawayTemplates) {
  data::ChatTemplateLimits limits;
  limits.max_output_bytes = 1 << 20;
  limits.max_loop_iterations = 100000;
  const auto start = std::chrono::steady_clock::now();
  const ChatTemplate loops =
      ChatTemplate::parse("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "loops");
  testing::expect_user_error([&] { loops.render(Json::object(), limits); }, {"loops", "loop iterations"});
  const ChatTemplate doubling = ChatTemplate::parse(
      "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", "doubling");
  testing::expect_user_error([&] { doubling.render(Json::object(), limits); }, {"doubling", "1048576"});
  const ChatTemplate repeat = ChatTemplate::parse("{{ 'ab' * 100000000 }}", "repeat");
  testing::expect_user_error([&] { repeat.render(Json::object(), limits); }, {"repeat", "repetition"});
  const ChatTemplate output = ChatTemplate::parse("{% for i in range(20000) %}{{ 'x' * 100 }}{% endfor %}", "output");
  testing::expect_user_error([&] { output.render(Json::object(), limits); }, {"output", "output grows"});
  for (const char* blowup : {"{{ ('x' * 60000)|replace('', 'y' * 60000) }}", "{{ ['x' * 1000] * 2000 }}",
                             "{{ (['x' * 9000] * 110)|tojson(indent=1000) }}", "{{ ('x\n' * 9000)|indent(60000) }}",
                             "{{ (['x' * 1000] * 600)|join('y' * 1000) }}",
                             "{{ ('{}' * 600).format('z' * 2000) if false else ('{0}' * 600).format('z' * 2000) }}"}) {
    const ChatTemplate t = ChatTemplate::parse(blowup, "blowup");
    testing::expect_user_error([&] { t.render(Json::object(), limits); }, {"blowup", "grows past"});
  }
  const ChatTemplate recursion =
      ChatTemplate::parse("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "recursion");
  testing::expect_user_error([&] { recursion.render(Json::object(), limits); }, {"recursion", "nested deeper"});
  testing::expect_user_error(
      [] { ChatTemplate::parse("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}", "deep"); },
      {"deep", "nesting deeper"});
  std::string nested_ifs;
  for (int i = 0; i < 1000; ++i) nested_ifs += "{% if true %}";
  testing::expect_user_error([&] { ChatTemplate::parse(nested_ifs, "ifs"); }, {"ifs", "nesting deeper"});
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 10.0);
}

}  // namespace
}  // namespace horizon
