// Hugging Face tokenizer.json: IDs identical to the `tokenizers` library on
// the golden strings of scripts/generate_tokenizer_goldens.js (Qwen3, Llama 3
// and a SentencePiece-style Llama 2 / Mistral file), decode as the library
// decodes, a planted bug that the goldens must catch, and errors that name
// the file and the JSON path.
#include "data/hf_tokenizer.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "test_support.h"

namespace horizon {
namespace {

using nlohmann::json;
using testing::read_file;
using testing::source_path;
using testing::TempDir;

struct GoldenReport {
  int lines = 0, id_mismatches = 0, special_mismatches = 0, decode_mismatches = 0, round_trips = 0;
  std::string first_failures;
  int failures() const { return id_mismatches + special_mismatches + decode_mismatches; }
};

// Compares `tokenizer` with every line of tests/golden/tokenizers/NAME.jsonl.
GoldenReport check_goldens(const data::Tokenizer& tokenizer, const std::string& name) {
  GoldenReport report;
  std::ifstream in(source_path("tests/golden/tokenizers/" + name + ".jsonl"));
  EXPECT_TRUE(in.good()) << name;
  std::string line;
  int shown = 0;
  const auto note = [&](const std::string& what, const json& entry) {
    if (shown++ < 5) report.first_failures += "  " + what + ": " + entry["text"].dump() + "\n";
  };
  while (std::getline(in, line)) {
    const json entry = json::parse(line);
    ++report.lines;
    const std::string text = entry["text"];
    const std::vector<int32_t> expected = entry["ids"];
    const std::vector<int32_t> ids = tokenizer.encode(text);
    if (ids != expected) {
      ++report.id_mismatches;
      note("ids", entry);
    }
    if (entry.contains("special") && tokenizer.encode(text, true) != entry["special"].get<std::vector<int32_t>>()) {
      ++report.special_mismatches;
      note("ids with special tokens", entry);
    }
    const std::string decoded = tokenizer.decode(expected);
    if (decoded != entry.value("decoded", text)) {
      ++report.decode_mismatches;
      note("decode", entry);
    }
    report.round_trips += !entry.contains("decoded") && tokenizer.decode(ids) == text;
  }
  return report;
}

// Loading the real files takes a second each: every test shares one copy.
const data::Tokenizer& real_tokenizer(const std::string& file) {
  static std::map<std::string, std::unique_ptr<data::Tokenizer>> loaded;
  auto& slot = loaded[file];
  if (!slot) slot = data::load_hf_tokenizer(file);
  return *slot;
}

void expect_goldens(const std::string& name, int min_round_trips) {
  HORIZON_TEST_DATA_OR_SKIP(file, name + "/tokenizer.json");
  const GoldenReport r = check_goldens(real_tokenizer(file), name);
  EXPECT_GE(r.lines, 3000);
  EXPECT_EQ(r.failures(), 0) << r.id_mismatches << " ID, " << r.special_mismatches << " special, "
                             << r.decode_mismatches << " decode mismatches of " << r.lines << ", first:\n"
                             << r.first_failures;
  // Where the library's decode gives the text back, ours does too.
  EXPECT_GE(r.round_trips, min_round_trips);
}

TEST(HfTokenizer, Qwen3MatchesLibrary) { expect_goldens("qwen3", 2400); }
TEST(HfTokenizer, Llama3MatchesLibrary) { expect_goldens("llama3", 3200); }
TEST(HfTokenizer, Llama2MatchesLibrary) { expect_goldens("llama2", 2400); }

// Components the real files do not use (Metaspace pre-tokenizer and decoder,
// lstrip/rstrip/single_word/normalized added tokens, the GPT-2 regex of
// ByteLevel, Split behaviors, NFKC/NFD, Replace with a regex), on tokenizers
// derived from the real ones as tests/golden/tokenizers/variants.json says.
void expect_variant_goldens(const std::string& name, int min_round_trips) {
  const json variants = json::parse(read_file(source_path("tests/golden/tokenizers/variants.json")));
  const json& spec = variants.at(name);
  HORIZON_TEST_DATA_OR_SKIP(file, spec["base"].get<std::string>() + "/tokenizer.json");
  json doc = json::parse(read_file(file));
  const json replaced = spec.value("set", json::object()), added = spec.value("add_tokens", json::array());
  for (const auto& [key, value] : replaced.items()) doc[key] = value;
  for (const json& token : added) doc["added_tokens"].push_back(token);
  const data::HfTokenizer tokenizer("variant " + name, doc.dump());
  const GoldenReport r = check_goldens(tokenizer, name);
  EXPECT_EQ(r.lines, 800);
  EXPECT_EQ(r.failures(), 0) << r.id_mismatches << " ID, " << r.special_mismatches << " special, "
                             << r.decode_mismatches << " decode mismatches of " << r.lines << ", first:\n"
                             << r.first_failures;
  EXPECT_GE(r.round_trips, min_round_trips);
}

TEST(HfTokenizer, MetaspaceFirstAndStrippedAddedTokensMatchLibrary) {
  expect_variant_goldens("llama2_metaspace_first", 420);
}
TEST(HfTokenizer, MetaspaceSplitAndTemplateMatchLibrary) { expect_variant_goldens("llama2_metaspace_split", 130); }
TEST(HfTokenizer, ByteLevelRegexAndNormalizedAddedTokensMatchLibrary) {
  expect_variant_goldens("qwen3_gpt2_regex", 190);
}
TEST(HfTokenizer, SplitBehaviorsMatchLibrary) { expect_variant_goldens("qwen3_split_behaviors", 400); }

TEST(HfTokenizer, SpecialIdsFromConfig) {
  HORIZON_TEST_DATA_OR_SKIP(qwen, "qwen3/tokenizer.json");
  HORIZON_TEST_DATA_OR_SKIP(llama2, "llama2/tokenizer.json");
  const data::Tokenizer* q = &real_tokenizer(qwen);
  EXPECT_EQ(q->eos_id(), q->token_id("<|im_end|>"));
  EXPECT_FALSE(q->bos_id());
  EXPECT_EQ(q->vocab_size(), 151669);
  const data::Tokenizer* l = &real_tokenizer(llama2);
  EXPECT_EQ(l->bos_id(), 1);
  EXPECT_EQ(l->eos_id(), 2);
  EXPECT_EQ(l->vocab_size(), 32000);
  // A directory holding the files is a tokenizer too.
  const std::string dir = llama2.substr(0, llama2.rfind('/'));
  EXPECT_EQ(data::load_hf_tokenizer(dir)->encode("Hello"), l->encode("Hello"));
}

// The goldens can fail: a tokenizer.json with one merge dropped must disagree.
TEST(HfTokenizer, GoldensCatchADroppedMerge) {
  HORIZON_TEST_DATA_OR_SKIP(file, "llama2/tokenizer.json");
  json doc = json::parse(read_file(file));
  ASSERT_EQ(doc["model"]["merges"][0], "▁ t");
  doc["model"]["merges"].erase(0);
  TempDir dir;
  const auto broken = data::load_hf_tokenizer(dir.write("tokenizer.json", doc.dump()));
  const GoldenReport r = check_goldens(*broken, "llama2");
  EXPECT_GT(r.id_mismatches, 10);
}

TEST(HfTokenizer, GoldensCatchAPerturbedRank) {
  HORIZON_TEST_DATA_OR_SKIP(file, "llama2/tokenizer.json");
  json doc = json::parse(read_file(file));
  // "▁ t" from the first rank to the last: same merges, another order.
  json& merges = doc["model"]["merges"];
  merges.push_back(merges[0]);
  merges.erase(0);
  TempDir dir;
  const auto broken = data::load_hf_tokenizer(dir.write("tokenizer.json", doc.dump()));
  EXPECT_GT(check_goldens(*broken, "llama2").id_mismatches, 0);
}

// A small byte-level tokenizer for the error tests.
json tiny_tokenizer() {
  return json::parse(R"({
    "version": "1.0", "added_tokens": [{"id": 3, "content": "<|end|>", "special": true, "normalized": false}],
    "normalizer": null,
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "\\s+|\\S+"}, "behavior": "Isolated", "invert": false},
        {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]},
    "post_processor": null, "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", "b"]]}})");
}

std::string write_tokenizer(const TempDir& dir, const json& doc) { return dir.write("tokenizer.json", doc.dump()); }

TEST(HfTokenizer, TinyTokenizerEncodes) {
  TempDir dir;
  const auto t = data::load_hf_tokenizer(write_tokenizer(dir, tiny_tokenizer()));
  EXPECT_EQ(t->encode("ab<|end|>ba"), (std::vector<int32_t>{2, 3, 1, 0}));
  EXPECT_EQ(t->decode(std::vector<int32_t>{2, 3, 1, 0}), "ab<|end|>ba");
}

TEST(HfTokenizer, MergesAsStringsEqualPairs) {
  TempDir dir;
  json doc = tiny_tokenizer();
  doc["model"]["merges"] = json::array({"a b"});
  EXPECT_EQ(data::load_hf_tokenizer(write_tokenizer(dir, doc))->encode("aab"), (std::vector<int32_t>{0, 2}));
}

TEST(HfTokenizer, ErrorsNameFileAndField) {
  TempDir dir;
  const std::string file = dir / "tokenizer.json";
  json doc = tiny_tokenizer();
  doc["pre_tokenizer"]["pretokenizers"][1]["type"] = "Whitespace";
  write_tokenizer(dir, doc);
  testing::expect_user_error([&] { data::load_hf_tokenizer(file); },
                             {file, "pre_tokenizer.pretokenizers[1].type", "Whitespace", "supported: ByteLevel"});

  doc = tiny_tokenizer();
  doc["model"]["merges"].push_back(json::array({"a", "zz"}));
  write_tokenizer(dir, doc);
  testing::expect_user_error([&] { data::load_hf_tokenizer(file); }, {file, "model.merges[1]", "\"zz\""});

  doc = tiny_tokenizer();
  doc["model"]["merges"][0] = "a  b";
  write_tokenizer(dir, doc);
  testing::expect_user_error([&] { data::load_hf_tokenizer(file); }, {file, "model.merges[0]", "one space"});

  doc = tiny_tokenizer();
  doc["normalizer"] = json::parse(R"({"type": "Lowercase"})");
  write_tokenizer(dir, doc);
  testing::expect_user_error([&] { data::load_hf_tokenizer(file); }, {"normalizer.type", "Lowercase", "NFC"});

  doc = tiny_tokenizer();
  doc["model"]["type"] = "WordPiece";
  write_tokenizer(dir, doc);
  testing::expect_user_error([&] { data::load_hf_tokenizer(file); }, {"model.type", "WordPiece", "BPE"});

  doc = tiny_tokenizer();
  doc["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed";
  write_tokenizer(dir, doc);
  testing::expect_user_error([&] { data::load_hf_tokenizer(file); },
                             {"pre_tokenizer.pretokenizers[0].pattern", "(unclosed"});

  doc = tiny_tokenizer();
  doc.erase("model");
  write_tokenizer(dir, doc);
  testing::expect_user_error([&] { data::load_hf_tokenizer(file); }, {file, "model", "missing"});

  dir.write("tokenizer.json", "{\"model\": ");
  testing::expect_user_error([&] { data::load_hf_tokenizer(file); }, {file, "malformed JSON"});

  write_tokenizer(dir, tiny_tokenizer());
  const std::string config = dir.write("tokenizer_config.json", R"({"eos_token": {"content": "<|nope|>"}})");
  testing::expect_user_error([&] { data::load_hf_tokenizer(dir.path()); }, {config, "eos_token", "<|nope|>"});

  TempDir empty;
  testing::expect_user_error([&] { data::load_hf_tokenizer(empty.path()); }, {empty.path(), "no tokenizer.json"});
}

TEST(HfTokenizer, ConfigTokensAsObjects) {
  TempDir dir;
  write_tokenizer(dir, tiny_tokenizer());
  dir.write("tokenizer_config.json",
            R"({"bos_token": "ab", "eos_token": {"__type": "AddedToken", "content": "<|end|>"}})");
  const auto t = data::load_hf_tokenizer(dir.path());
  EXPECT_EQ(t->bos_id(), 2);
  EXPECT_EQ(t->eos_id(), 3);
}

}  // namespace
}  // namespace horizon

namespace horizon {
namespace {

// `horizon ARGS < stdin_file`.
testing::CommandResult run_with_stdin(const std::string& args, const std::string& stdin_file) {
  TempDir tmp;
  const std::string out = tmp / "out", err = tmp / "err";
  const std::string cmd = std::string(HORIZON_BINARY) + " " + args + " <" + stdin_file + " >" + out + " 2>" + err;
  const int status = std::system(cmd.c_str());
  testing::CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

std::string ids_line(const std::vector<int32_t>& ids) { return json(ids).dump() + "\n"; }

TEST(TokenizeCommand, TextAndStdinGiveTheLibraryIds) {
  HORIZON_TEST_DATA_OR_SKIP(file, "llama2/tokenizer.json");
  const std::string dir = file.substr(0, file.rfind('/'));
  const data::Tokenizer* tokenizer = &real_tokenizer(file);
  auto r = testing::run_horizon("tokenize " + dir + " --text 'Hello world</s>'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, ids_line(tokenizer->encode("Hello world</s>")));
  r = testing::run_horizon("tokenize " + file + " --text 'Hello' --add-special-tokens");
  EXPECT_EQ(r.out, "[1,22557]\n");

  TempDir tmp;
  const std::string text = "two\nlines\r\n and tabs\t\n";
  r = run_with_stdin("tokenize " + dir, tmp.write("in.txt", text));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, ids_line(tokenizer->encode(text)));
}

TEST(TokenizeCommand, JsonlEncodesAndDecodesLineByLine) {
  HORIZON_TEST_DATA_OR_SKIP(file, "llama2/tokenizer.json");
  const data::Tokenizer* tokenizer = &real_tokenizer(file);
  const std::vector<std::string> texts = {"Hello\nworld", "<s>user\n你好</s>", "", "  spaces  "};
  std::string lines, expected, decoded;
  for (const std::string& t : texts) {
    lines += json(t).dump() + "\n";
    expected += ids_line(tokenizer->encode(t));
    decoded += json(tokenizer->decode(tokenizer->encode(t))).dump() + "\n";
  }
  TempDir tmp;
  auto r = run_with_stdin("tokenize " + file + " --jsonl", tmp.write("in.jsonl", lines));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, expected);
  r = run_with_stdin("tokenize " + file + " --jsonl --decode", tmp.write("ids.jsonl", expected));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, decoded);

  r = run_with_stdin("tokenize " + file + " --jsonl", tmp.write("bad.jsonl", "\"ok\"\nnot json\n"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("stdin:2"), std::string::npos) << r.err;
}

TEST(TokenizeCommand, ByteLevelModelsNeedNoTokenizer) {
  auto r = testing::run_horizon("tokenize " + source_path("models/tiny.json") + " --text 'hé'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "[104,195,169]\n");
  r = testing::run_horizon("tokenize " + source_path("models/tiny.json") + " --text '[104,195,169]' --decode");
  EXPECT_EQ(r.out, "hé");
}

TEST(TokenizeCommand, OtherVocabularyWithoutTokenizerIsAnError) {
  const auto r = testing::run_horizon("tokenize " + source_path("models/llama2-7b.json") + " --text hi");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("32000-token vocabulary"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("tokenizer.json"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace horizon
