// Assistant turns located in renders of real chat templates: Qwen3's (not
// prefix-stable: earlier turns lose their <think> block, the last turn gains
// an empty one, tool-call turns have no content) and the first Llama 3
// Instruct template (writes the generation prompt even when not asked, so it
// is refused rather than guessed). The renders come from Python jinja2 as
// transformers configures it (tests/golden/data_chat_renders/make.py), so
// this runs without our own template interpreter; a corrupted render is a
// planted bug that must be caught.
#include <gtest/gtest.h>

#include <filesystem>

#include "data/chat_template.h"
#include "data/example_builder.h"
#include "tests/data_fakes.h"
#include "tests/test_support.h"

using namespace horizon;
using namespace horizon::data;
using horizon::testing::expect_user_error;
using horizon::testing::FakeTokenizer;

namespace {

frontend::Json golden() {
  return frontend::parse_json_file(horizon::testing::source_path("tests/golden/data_chat_renders/renders.json"));
}

/// Replays the stored render of messages[:n] with or without the generation prompt.
ChatRenderer replay(const frontend::Json& conversation) {
  return [conversation](const frontend::Json& v) {
    const std::string key =
        std::to_string(v["messages"].size()) + "/" + (v.value("add_generation_prompt", false) ? "1" : "0");
    const frontend::Json& text = conversation["renders"].at(key);
    if (text.is_null()) throw UserError("the template raised an exception for " + key);
    return text.get<std::string>();
  };
}

std::string trained(const Tokenizer& tok, const Example& e) {
  std::string out;
  for (size_t i = 0; i < e.tokens.size(); ++i) {
    if (!e.loss[i]) continue;
    if (i > 0 && !e.loss[i - 1] && !out.empty()) out += "|";
    out += tok.decode(std::vector<int32_t>{e.tokens[i]});
  }
  return out;
}

Example build(const frontend::Json& conversation, const FakeTokenizer& tok, LossOn loss_on = LossOn::completion) {
  ExampleOptions o;
  o.tokenizer = &tok;
  o.render_chat = replay(conversation);
  o.loss_on = loss_on;
  JsonlRow row;
  row.kind = JsonlRow::Kind::messages;
  row.messages = conversation["messages"];
  return build_row_example(row, o, "chat.jsonl:1");
}

}  // namespace

TEST(DataChatSpans, Qwen3TurnsAsTheWholeRenderWritesThem) {
  const frontend::Json qwen3 = golden()["qwen3"];
  FakeTokenizer tok;
  const std::vector<std::string> expected = {
      "Hello!<|im_end|>|<think>\n\n</think>\n\n4<|im_end|>",
      "Hello!<|im_end|>|<think>\nadd\n</think>\n\n4<|im_end|>",
      "Hello!<|im_end|>|<think>\npart\n</think>\n\nBye!<|im_end|>",
      "<tool_call>\n{\"name\": \"weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call><|im_end|>|"
      "<think>\n\n</think>\n\nIt is 21 C.<|im_end|>",
  };
  ASSERT_EQ(qwen3.size(), expected.size());
  for (size_t c = 0; c < expected.size(); ++c) {
    Example e = build(qwen3[c], tok);
    EXPECT_EQ(trained(tok, e), expected[c]) << "conversation " << c;
    const std::string whole = qwen3[c]["renders"][std::to_string(qwen3[c]["messages"].size()) + "/0"];
    EXPECT_EQ(tok.decode(e.tokens), whole) << "the tokens are the whole render's";
  }
}

TEST(DataChatSpans, CorruptedRenderIsCaught) {
  // Planted bug: the whole conversation's render says "Hullo!" where the turn said "Hello!".
  frontend::Json conversation = golden()["qwen3"][0];
  std::string& whole = conversation["renders"]["5/0"].get_ref<std::string&>();
  whole.replace(whole.find("Hello!"), 6, "Hullo!");
  FakeTokenizer tok;
  expect_user_error([&] { build(conversation, tok); }, {"chat.jsonl:1", "messages[2]", "cannot be located"});
}

TEST(DataChatSpans, Llama3TemplateThatIgnoresTheGenerationPromptIsRefused) {
  const frontend::Json llama3 = golden()["llama3"];
  FakeTokenizer tok;
  tok.specials = {"<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"};
  expect_user_error([&] { build(llama3[0], tok); },
                    {"chat.jsonl:1", "ignores add_generation_prompt", "--chat-template"});
  // --loss-on all needs no turn boundaries: every token of the render trains.
  Example all = build(llama3[0], tok, LossOn::all);
  EXPECT_EQ(std::count(all.loss.begin(), all.loss.end(), 1), static_cast<long>(all.tokens.size()));
}

TEST(DataChatSpans, RealQwen3TemplateThroughTheInterpreter) {
  // The same conversations rendered by our Jinja interpreter instead of the
  // stored jinja2 renders: the same turns train.
  HORIZON_TEST_DATA_OR_SKIP(config_path, "qwen3/tokenizer_config.json");
  const frontend::Json config = frontend::parse_json_file(config_path);
  auto chat = std::make_shared<ChatTemplate>(ChatTemplate::parse(config["chat_template"], config_path));
  const frontend::Json qwen3 = golden()["qwen3"];
  FakeTokenizer tok;
  for (size_t c = 0; c < qwen3.size(); ++c) {
    ExampleOptions o;
    o.tokenizer = &tok;
    o.render_chat = [chat](const frontend::Json& v) { return chat->render(v); };
    JsonlRow row;
    row.kind = JsonlRow::Kind::messages;
    row.messages = qwen3[c]["messages"];
    EXPECT_EQ(trained(tok, build_row_example(row, o, "x")), trained(tok, build(qwen3[c], tok))) << c;
  }
}

TEST(DataChatSpans, ChatJsonlEndToEndWithATemplateFile) {
  // `horizon data` and `horizon train` on chat rows with the byte-level tiny
  // model and Qwen3's template given as a file.
  HORIZON_TEST_DATA_OR_SKIP(config_path, "qwen3/tokenizer_config.json");
  horizon::testing::TempDir dir;
  const std::string jinja =
      dir.write("qwen3.jinja", frontend::parse_json_file(config_path)["chat_template"].get<std::string>());
  std::string rows;
  for (int i = 0; i < 12; ++i)
    rows += R"({"messages": [{"role": "user", "content": "add 1 to )" + std::to_string(i) +
            R"("}, {"role": "assistant", "content": ")" + std::to_string(i + 1) + "\"}]}\n";
  const std::string data = dir.write("chat.jsonl", rows);
  const std::string common = horizon::testing::source_path("models/tiny.json") + " --data " + data +
                             " --chat-template " + jinja + " --cache-dir none --seq 64";
  auto shown = horizon::testing::run_horizon("data " + common + " --show 1 --json");
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  const frontend::Json first = frontend::Json::parse(shown.out.substr(0, shown.out.find('\n')));
  std::string trained_text;
  const std::string text = first["text"];
  for (size_t i = 0; i < text.size(); ++i)
    if (first["mask"][i] == 1) trained_text += text[i];  // byte-level: one token per byte
  EXPECT_EQ(trained_text, "<think>\n\n</think>\n\n1<|im_end|>");
  auto trained_run = horizon::testing::run_horizon("train " + common + " --steps 2 --batch 2 --device cpu");
  ASSERT_EQ(trained_run.exit_code, 0) << trained_run.err;
  EXPECT_NE(trained_run.out.find("sampler: packed documents"), std::string::npos) << trained_run.out;
}

TEST(DataChatSpans, RealQwen3TokenizerMatchesTheLibrarysOffsets) {
  // Tokens and loss bits of the whole Qwen3 renders against Hugging Face's
  // tokenizers library: its IDs, and a loss bit wherever a token's offsets
  // overlap a turn (tests/golden/data_chat_renders/tokens.js).
  HORIZON_TEST_DATA_OR_SKIP(tokenizer_json, "qwen3/tokenizer.json");
  std::unique_ptr<Tokenizer> tok;
  try {
    tok = load_hf_tokenizer(std::filesystem::path(tokenizer_json).parent_path().string());
  } catch (const UserError& e) {
    if (std::string(e.what()).find("not implemented") != std::string::npos) GTEST_SKIP() << e.what();
    throw;
  }
  const frontend::Json qwen3 = golden()["qwen3"];
  const frontend::Json expected =
      frontend::parse_json_file(horizon::testing::source_path("tests/golden/data_chat_renders/tokens.json"));
  for (size_t c = 0; c < qwen3.size(); ++c) {
    ExampleOptions o;
    o.tokenizer = tok.get();
    o.render_chat = replay(qwen3[c]);
    JsonlRow row;
    row.kind = JsonlRow::Kind::messages;
    row.messages = qwen3[c]["messages"];
    Example e = build_row_example(row, o, "x");
    EXPECT_EQ(frontend::Json(e.tokens), expected[c]["ids"]) << "conversation " << c;
    EXPECT_EQ(frontend::Json(std::vector<int>(e.loss.begin(), e.loss.end())), expected[c]["mask"]) << c;
    EXPECT_EQ(e.straddling, 0);
  }
}
