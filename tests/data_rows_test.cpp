// JSONL rows in every format, their errors (FILE:LINE and field), loading
// files and folders (text, .jsonl, .jsonl.gz) on several threads, and the loss
// masks of text, prompt-completion and chat rows — including a template that
// is not prefix-stable and a tokenizer that merges across a span edge.
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>

#include "data/byte_tokenizer.h"
#include "data/chat_spans.h"
#include "data/document_loader.h"
#include "data/example_builder.h"
#include "data/jsonl_row.h"
#include "data/token_file.h"
#include "tests/data_fakes.h"
#include "tests/test_support.h"

using namespace horizon;
using namespace horizon::data;
using horizon::testing::expect_user_error;
using horizon::testing::FakeTokenizer;
using horizon::testing::TempDir;

namespace {

JsonlRow parse(const std::string& line, RowFields fields = {}) { return parse_jsonl_row(line, "f.jsonl:7", fields); }

/// The text of the tokens that carry loss, runs joined with '|'.
std::string trained_text(const Tokenizer& tok, const Example& e) {
  std::string out;
  for (size_t i = 0; i < e.tokens.size(); ++i) {
    if (!e.loss[i]) continue;
    if (i > 0 && !e.loss[i - 1] && !out.empty()) out += "|";
    out += tok.decode(std::vector<int32_t>{e.tokens[i]});
  }
  return out;
}

frontend::Json conversation(bool thinking = false) {
  return frontend::Json::parse(std::string(R"([{"role":"system","content":"Be brief."},
    {"role":"user","content":"Hi"},{"role":"assistant","content":")") +
                               (thinking ? "<think>greet</think>" : "") + R"(Hello!"},
    {"role":"user","content":"2+2?"},{"role":"assistant","content":")" +
                               (thinking ? "<think>add</think>" : "") + R"(4"}])");
}

}  // namespace

TEST(DataJsonl, EachRowFormat) {
  JsonlRow t = parse(R"({"text": "hello", "id": 3})");
  EXPECT_EQ(t.kind, JsonlRow::Kind::text);
  EXPECT_EQ(t.text, "hello");
  JsonlRow pc = parse(R"({"prompt": "1+1=", "completion": "2"})");
  EXPECT_EQ(pc.kind, JsonlRow::Kind::prompt_completion);
  EXPECT_FALSE(pc.conversational());
  EXPECT_EQ(pc.prompt + pc.completion, "1+1=2");
  JsonlRow cpc =
      parse(R"({"prompt": [{"role":"user","content":"a"}], "completion": [{"role":"assistant","content":"b"}]})");
  EXPECT_TRUE(cpc.conversational());
  EXPECT_EQ(cpc.completion_messages[0]["content"], "b");
  JsonlRow m = parse(
      R"({"messages": [{"role":"user","content":"a"},{"role":"assistant","content":null,"tool_calls":[]}], "tools": []})");
  EXPECT_EQ(m.kind, JsonlRow::Kind::messages);
  EXPECT_EQ(m.messages.size(), 2u);
  EXPECT_TRUE(m.tools.is_array());
  // Renamed fields.
  RowFields f;
  f.text = "body";
  f.messages = "conv";
  EXPECT_EQ(parse(R"({"body": "x"})", f).text, "x");
  EXPECT_EQ(parse(R"({"conv": [{"role":"user","content":"a"}]})", f).kind, JsonlRow::Kind::messages);
}

TEST(DataJsonl, ErrorsNameFileLineAndField) {
  expect_user_error([] { parse("{\"text\": "); }, {"f.jsonl:7", "not valid JSON"});
  expect_user_error([] { parse("[1, 2]"); }, {"f.jsonl:7", "expected a JSON object"});
  expect_user_error([] { parse(R"({"text": 5})"); }, {"f.jsonl:7", "field \"text\"", "expected a string"});
  expect_user_error([] { parse(R"({"prompt": "a"})"); }, {"f.jsonl:7", "field \"completion\"", "missing"});
  expect_user_error([] { parse(R"({"body": "a"})"); }, {"f.jsonl:7", "it has: body", "--text-field"});
  expect_user_error([] { parse(R"({"messages": "hi"})"); }, {"field \"messages\"", "list of messages"});
  expect_user_error([] { parse(R"({"messages": []})"); }, {"field \"messages\"", "empty"});
  expect_user_error([] { parse(R"({"messages": [{"content": "x"}]})"); }, {"messages[0].role", "missing"});
  expect_user_error([] { parse(R"({"messages": [{"role": "user"}]})"); }, {"messages[0].content", "missing"});
  expect_user_error([] { parse(R"({"messages": [{"role": "user", "content": 3}]})"); }, {"messages[0].content"});
  expect_user_error([] { parse(R"({"text": "a", "tools": 3})"); }, {"field \"tools\""});
}

TEST(DataMasks, TextTrainsEverythingAndEndsWithEos) {
  FakeTokenizer tok(false, /*bos=*/true);
  ExampleOptions o;
  o.tokenizer = &tok;
  Example e = build_text_example("ab", o);
  EXPECT_EQ(e.tokens, (std::vector<int32_t>{256 + 3, 'a', 'b', 256 + 2}));
  EXPECT_EQ(e.loss, (std::vector<uint8_t>{1, 1, 1, 1}));
  // A text already ending with EOS gets no second one.
  EXPECT_EQ(build_text_example("a<eos>", o).tokens.size(), 3u);
  // The byte tokenizer has no EOS: nothing is appended.
  ByteTokenizer bytes;
  o.tokenizer = &bytes;
  EXPECT_EQ(build_text_example("ab", o).tokens.size(), 2u);
}

TEST(DataMasks, PromptCompletionTrainsCompletionAndEos) {
  FakeTokenizer tok(false, true);
  ExampleOptions o;
  o.tokenizer = &tok;
  Example e = build_row_example(parse(R"({"prompt": "1+1=", "completion": "2"})"), o, "f:1");
  EXPECT_EQ(tok.decode(e.tokens), "<bos>1+1=2<eos>");
  EXPECT_EQ(e.loss, (std::vector<uint8_t>{0, 0, 0, 0, 0, 1, 1}));
  o.loss_on = LossOn::all;
  e = build_row_example(parse(R"({"prompt": "1+1=", "completion": "2"})"), o, "f:1");
  EXPECT_EQ(std::count(e.loss.begin(), e.loss.end(), 1), 7);
}

TEST(DataMasks, ChatTrainsAssistantTurnsWithTheirEndToken) {
  FakeTokenizer tok;
  ExampleOptions o;
  o.tokenizer = &tok;
  o.render_chat = horizon::testing::chatml_renderer();
  JsonlRow row;
  row.kind = JsonlRow::Kind::messages;
  row.messages = conversation();
  Example e = build_row_example(row, o, "f:1");
  EXPECT_EQ(tok.decode(e.tokens), o.render_chat({{"messages", row.messages}}));
  EXPECT_EQ(trained_text(tok, e), "Hello!<|im_end|>|4<|im_end|>");
  EXPECT_EQ(e.straddling, 0);
  // Conversational prompt-completion: the completion turn only.
  JsonlRow pc =
      parse(R"({"prompt": [{"role":"user","content":"Hi"}], "completion": [{"role":"assistant","content":"Yo"}]})");
  EXPECT_EQ(trained_text(tok, build_row_example(pc, o, "f:2")), "Yo<|im_end|>");
  // No template: a chat row is an error naming the row.
  o.render_chat = nullptr;
  expect_user_error([&] { build_row_example(row, o, "f.jsonl:9"); }, {"f.jsonl:9", "chat template"});
}

TEST(DataMasks, TemplateThatDropsOldThinkingIsLocatedByContent) {
  FakeTokenizer tok;
  ExampleOptions o;
  o.tokenizer = &tok;
  o.render_chat = horizon::testing::chatml_renderer(/*drop_old_thinking=*/true);
  JsonlRow row;
  row.kind = JsonlRow::Kind::messages;
  row.messages = conversation(true);
  RenderedChat chat = render_assistant_spans(o.render_chat, row.messages, frontend::Json::object(), "f:1");
  EXPECT_EQ(chat.unstable_turns, 1);  // the first turn's <think> is gone from the whole render
  Example e = build_row_example(row, o, "f:1");
  // The first turn as rendered (no <think>), the last with its reasoning.
  EXPECT_EQ(trained_text(tok, e), "Hello!<|im_end|>|<think>add</think>4<|im_end|>");
}

TEST(DataMasks, TemplateThatRewritesContentIsAnError) {
  // A planted bug: the template changes the assistant's words, so no span can be trusted.
  data::ChatRenderer base = horizon::testing::chatml_renderer(true);
  data::ChatRenderer rewriting = [base](const frontend::Json& v) {
    std::string s = base(v);
    for (size_t at; (at = s.find("Hello!")) != std::string::npos;) s.replace(at, 6, "HELLO!");
    return s;
  };
  FakeTokenizer tok;
  ExampleOptions o;
  o.tokenizer = &tok;
  o.render_chat = rewriting;
  JsonlRow row;
  row.kind = JsonlRow::Kind::messages;
  row.messages = conversation(true);
  expect_user_error([&] { build_row_example(row, o, "chat.jsonl:4"); },
                    {"chat.jsonl:4", "messages[2].content", "cannot be located"});
}

TEST(DataMasks, EdgeInsideATokenIsCountedAndTrained) {
  // "\n\n" merges into one token across the generation prompt's end: the edge
  // falls inside it, the token carries loss and the straddle is counted.
  FakeTokenizer tok(/*merge_newlines=*/true);
  ExampleOptions o;
  o.tokenizer = &tok;
  o.render_chat = horizon::testing::chatml_renderer();
  JsonlRow row;
  row.kind = JsonlRow::Kind::messages;
  row.messages = frontend::Json::parse(R"([{"role":"user","content":"Hi"},{"role":"assistant","content":"\nYes"}])");
  Example e = build_row_example(row, o, "f:1");
  EXPECT_EQ(e.straddling, 1);
  EXPECT_EQ(trained_text(tok, e), "\n\nYes<|im_end|>");
  EXPECT_EQ(tok.decode(e.tokens), o.render_chat({{"messages", row.messages}}));
}

TEST(DataLoader, FilesFoldersGzipAndErrors) {
  TempDir dir;
  dir.write("a/1.jsonl", "{\"text\": \"one\"}\n\n{\"prompt\": \"p\", \"completion\": \"c\"}\r\n");
  dir.write("a/2.txt", "plain text file");
  dir.write("a/.hidden.jsonl", "not json");
  const std::string gz = dir / "b.jsonl.gz";
  gzFile g = gzopen(gz.c_str(), "wb");
  const std::string rows = "{\"text\": \"zipped\"}\n{\"text\": \"again\"}\n";
  gzwrite(g, rows.data(), static_cast<unsigned>(rows.size()));
  gzclose(g);
  ByteTokenizer tok;
  LoadOptions o;
  o.example.tokenizer = &tok;
  DataStats stats;
  DocumentSet d = load_documents(list_data_files(dir / "a" + "," + gz), o, stats);
  ASSERT_EQ(d.size(), 5);
  auto text = [&](int64_t i) { return tok.decode(d.tokens(i)); };
  EXPECT_EQ(text(0), "one");
  EXPECT_EQ(text(1), "pc");
  EXPECT_EQ(text(2), "plain text file");
  EXPECT_EQ(text(3), "zipped");
  EXPECT_EQ(stats.files, 3);
  EXPECT_EQ(stats.rows, 5);

  dir.write("bad.jsonl", "{\"text\": \"ok\"}\n{\"text\": 1}\n{\"text\": \"fine\"}\n");
  expect_user_error([&] { load_documents(list_data_files(dir / "bad.jsonl"), o, stats); },
                    {"bad.jsonl:2", "field \"text\"", "--skip-bad-rows"});
  o.skip_bad_rows = true;
  DataStats skipped;
  EXPECT_EQ(load_documents(list_data_files(dir / "bad.jsonl"), o, skipped).size(), 2);
  EXPECT_EQ(skipped.bad_rows, 1);
  EXPECT_NE(skipped.first_bad_row.find("bad.jsonl:2"), std::string::npos);

  write_token_file(dir / "v1.tokens", std::vector<int32_t>{1, 2, 3}, 256);
  expect_user_error([&] { load_documents(list_data_files(dir / "v1.tokens" + "," + dir / "bad.jsonl"), o, stats); },
                    {"v1.tokens", "version-1"});
  expect_user_error([&] { list_data_files(dir / "missing.jsonl"); }, {"missing.jsonl", "no such file"});
  std::string corrupt = rows;
  dir.write("corrupt.jsonl.gz", std::string("\x1f\x8b\x08\x00", 4) + "garbage");
  expect_user_error([&] { read_data_file(dir / "corrupt.jsonl.gz"); }, {"corrupt.jsonl.gz", "gzip"});
}

TEST(DataLoader, ThreadCountDoesNotChangeTheResult) {
  TempDir dir;
  std::string rows;
  for (int i = 0; i < 300; ++i)
    rows += "{\"prompt\": \"q" + std::to_string(i) + "\", \"completion\": \"" + std::string(i % 17, 'x') + "\"}\n";
  dir.write("d.jsonl", rows);
  FakeTokenizer tok;
  LoadOptions o;
  o.example.tokenizer = &tok;
  DataStats s1, s4;
  o.threads = 1;
  DocumentSet one = load_documents(list_data_files(dir / "d.jsonl"), o, s1);
  o.threads = 4;
  DocumentSet four = load_documents(list_data_files(dir / "d.jsonl"), o, s4);
  EXPECT_EQ(one.all_tokens(), four.all_tokens());
  EXPECT_EQ(one.all_loss(), four.all_loss());
  EXPECT_EQ(one.ends(), four.ends());
  EXPECT_EQ(one.size(), 300);
}
