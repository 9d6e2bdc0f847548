// Token file version 2 (documents, loss mask, metadata) and each way one can
// be damaged; version 1 still loading; the token cache's key (a data file,
// the template, the tokenizer or an option changes it) and its round trip;
// and the commands end to end: `horizon data --json`, and `horizon train` on
// JSONL twice, the second run a cache hit.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "data/document_set.h"
#include "data/token_cache.h"
#include "data/token_file.h"
#include "frontend/json_file.h"
#include "tests/test_support.h"

using namespace horizon;
using namespace horizon::data;
using horizon::testing::expect_user_error;
using horizon::testing::run_horizon;
using horizon::testing::TempDir;

namespace {

TokenFile sample_v2() {
  TokenFile t;
  t.version = 2;
  t.vocab = 300;
  t.tokens = {1, 2, 3, 299, 5, 6, 7, 8, 9};
  t.document_ends = {3, 4, 9};
  t.loss = {0, 1, 1, 1, 0, 0, 1, 1, 1};
  t.meta = R"({"key": "k"})";
  return t;
}

std::string bytes_of(const std::string& path) { return horizon::testing::read_file(path); }

}  // namespace

TEST(DataTokenFileV2, RoundTripAndVersion1StillLoads) {
  TempDir dir;
  const TokenFile t = sample_v2();
  write_token_file_v2(dir / "a.tokens", t);
  TokenFile back = read_token_file(dir / "a.tokens");
  EXPECT_EQ(back.version, 2);
  EXPECT_EQ(back.tokens, t.tokens);
  EXPECT_EQ(back.document_ends, t.document_ends);
  EXPECT_EQ(back.loss, t.loss);
  EXPECT_EQ(back.meta, t.meta);
  EXPECT_EQ(back.bytes_per_token, 2);
  // 56-byte header + 9 uint16 tokens + 3 uint64 ends + 2 mask bytes + the metadata.
  EXPECT_EQ(bytes_of(dir / "a.tokens").size(), 56u + 18 + 24 + 2 + t.meta.size());
  TokenFile no_mask = t;
  no_mask.loss.clear();
  write_token_file_v2(dir / "b.tokens", no_mask);
  EXPECT_TRUE(read_token_file(dir / "b.tokens").loss.empty());
  write_token_file(dir / "v1.tokens", std::vector<int32_t>{4, 5}, 256);
  TokenFile v1 = read_token_file(dir / "v1.tokens");
  EXPECT_EQ(v1.version, 1);
  EXPECT_EQ(v1.tokens, (std::vector<int32_t>{4, 5}));
  EXPECT_TRUE(v1.document_ends.empty());
  // parse_token_file (the fuzzer's entry) agrees with the file reader on both versions.
  EXPECT_EQ(parse_token_file("v1", bytes_of(dir / "v1.tokens")).tokens, v1.tokens);
  EXPECT_EQ(parse_token_file("v2", bytes_of(dir / "a.tokens")).loss, t.loss);
}

TEST(DataTokenFileV2, EachCorruptionIsNamed) {
  TempDir dir;
  write_token_file_v2(dir / "a.tokens", sample_v2());
  const std::string good = bytes_of(dir / "a.tokens");
  auto with = [&](size_t at, uint8_t value) {
    std::string b = good;
    b[at] = static_cast<char>(value);
    return b;
  };
  expect_user_error([&] { parse_token_file("f", good.substr(0, 40)); }, {"f", "truncated"});
  expect_user_error([&] { parse_token_file("f", good.substr(0, good.size() - 1)); }, {"truncated"});
  expect_user_error([&] { parse_token_file("f", good + "x"); }, {"unexpected bytes"});
  expect_user_error([&] { parse_token_file("f", with(40, 2)); }, {"unknown flags"});
  expect_user_error([&] { parse_token_file("f", with(8, 3)); }, {"version 3"});
  // The second document's end (offset 56 + 18 + 8) set before the first's.
  expect_user_error([&] { parse_token_file("f", with(56 + 18 + 8, 2)); }, {"document 1 ends at 2"});
  expect_user_error([&] { parse_token_file("f", with(56 + 6, 0xff)); }, {"token", ">= the vocab"});
  // A document count so large that its size would overflow is refused before any allocation.
  std::string huge = good;
  for (int i = 0; i < 8; ++i) huge[32 + i] = static_cast<char>(0xff);
  expect_user_error([&] { parse_token_file("f", huge); }, {"truncated", "document ends"});
  TokenFile bad = sample_v2();
  bad.document_ends = {3, 3, 9};
  expect_user_error([&] { write_token_file_v2(dir / "x.tokens", bad); }, {"document ends"});
}

TEST(DataCache, KeyChangesWithEveryInputThatChangesTokens) {
  TempDir dir;
  dir.write("a.jsonl", "{\"text\": \"one\"}\n");
  dir.write("b.jsonl", "{\"text\": \"two\"}\n");
  CacheInputs in{list_data_files(dir / "a.jsonl" + "," + dir / "b.jsonl"), "tokenizer-bytes", "{{ messages }}",
                 "loss-on=completion"};
  const std::string key = cache_key(in);
  EXPECT_EQ(cache_key(in), key);
  CacheInputs t = in;
  t.chat_template += " ";
  EXPECT_NE(cache_key(t), key) << "the template";
  t = in;
  t.tokenizer = "other";
  EXPECT_NE(cache_key(t), key) << "the tokenizer";
  t = in;
  t.options = "loss-on=all";
  EXPECT_NE(cache_key(t), key) << "an option";
  t = in;
  std::swap(t.files[0], t.files[1]);
  EXPECT_NE(cache_key(t), key) << "the file order";
  dir.write("b.jsonl", "{\"text\": \"twO\"}\n");
  EXPECT_NE(cache_key(in), key) << "a data file's bytes";
}

TEST(DataCache, StoreAndLoadKeepDocumentsMaskAndStats) {
  TempDir dir;
  DocumentSet d;
  d.add(std::vector<int32_t>{1, 2, 3}, std::vector<uint8_t>{0, 1, 1});
  d.add(std::vector<int32_t>{4}, std::vector<uint8_t>{1});
  DataStats stats;
  stats.rows = 3;
  stats.bad_rows = 1;
  stats.first_bad_row = "x.jsonl:2: bad";
  store_cached(dir / "cache", "abc", d, 256, stats);
  DataStats back;
  std::optional<DocumentSet> loaded = load_cached(dir / "cache", "abc", 256, back);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->all_tokens(), d.all_tokens());
  EXPECT_EQ(loaded->all_loss(), d.all_loss());
  EXPECT_EQ(loaded->ends(), d.ends());
  EXPECT_EQ(back.bad_rows, 1);
  EXPECT_EQ(back.first_bad_row, "x.jsonl:2: bad");
  DataStats none;
  EXPECT_FALSE(load_cached(dir / "cache", "abd", 256, none)) << "another key";
  EXPECT_FALSE(load_cached(dir / "cache", "abc", 100, none)) << "a model with a smaller vocab";
  std::ofstream(dir / "cache/abc.tokens", std::ios::trunc) << "damaged";
  EXPECT_FALSE(load_cached(dir / "cache", "abc", 256, none)) << "a damaged entry is a miss, not an error";
}

TEST(DataCommand, JsonShowsTextIdsMaskAndRows) {
  TempDir dir;
  dir.write("pc.jsonl", "{\"prompt\": \"1+1=\", \"completion\": \"2\"}\n{\"text\": \"abc\"}\n");
  auto r = run_horizon("data " + horizon::testing::source_path("models/tiny.json") + " --data " + dir / "pc.jsonl" +
                       " --show 2 --json --seq 8 --cache-dir none");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  std::vector<frontend::Json> objects;
  while (std::getline(lines, line)) objects.push_back(frontend::Json::parse(line));
  ASSERT_EQ(objects.size(), 4u);  // two examples, two rows
  EXPECT_EQ(objects[0]["text"], "1+1=2");
  EXPECT_EQ(objects[0]["mask"], frontend::Json::parse("[0,0,0,0,1]"));
  EXPECT_EQ(objects[1]["begin"], 5);
  EXPECT_EQ(objects[2]["kind"], "row");
  auto bad = run_horizon("data " + horizon::testing::source_path("models/tiny.json") + " --data " + dir / "pc.jsonl" +
                         " --text-field body --cache-dir none");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("pc.jsonl:2"), std::string::npos) << bad.err;
}

TEST(DataCommand, TrainOnJsonlTwiceSecondIsACacheHit) {
  TempDir dir;
  std::string rows;
  for (int i = 0; i < 40; ++i)
    rows += "{\"prompt\": \"" + std::to_string(i) + "+1=\", \"completion\": \"" + std::to_string(i + 1) + "\"}\n";
  dir.write("train.jsonl", rows);
  const std::string cmd = "train " + horizon::testing::source_path("models/tiny.json") + " --data " +
                          dir / "train.jsonl" +
                          " --steps 1 --batch 2 --seq 32 --device cpu --eval-batches 0 --cache-dir " + dir / "cache";
  auto first = run_horizon(cmd);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.out.find("sampler: packed documents"), std::string::npos) << first.out;
  EXPECT_NE(first.out.find("cached at"), std::string::npos) << first.out;
  auto second = run_horizon(cmd);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE(second.out.find("token cache hit"), std::string::npos) << second.out;
  dir.write("train.jsonl", rows + "{\"text\": \"new row\"}\n");
  auto third = run_horizon(cmd);
  EXPECT_EQ(third.out.find("token cache hit"), std::string::npos) << "a changed data file must miss";
  auto epochs = run_horizon(cmd.substr(0, cmd.find(" --steps")) + " --epochs 1 --batch 4 --seq 128 --device cpu "
                                                                  "--cache-dir none --eval-batches 0");
  ASSERT_EQ(epochs.exit_code, 0) << epochs.err;
  EXPECT_NE(epochs.out.find("step 1/1"), std::string::npos) << "one epoch of ~300 tokens is one step of 4 x 128";
}

TEST(DataTokenFileV2, MatchesDocumentedBytes) {
  // docs/token-file.md's example: documents "Hi" and "!", loss on "i" and "!".
  TempDir dir;
  TokenFile t;
  t.version = 2;
  t.vocab = 256;
  t.tokens = {'H', 'i', '!'};
  t.document_ends = {2, 3};
  t.loss = {0, 1, 1};
  write_token_file_v2(dir / "doc.tokens", t);
  const std::string expected_hex = "485a544f4b454e53020000000200000003000000000000000001000000000000"
                                   "0200000000000000010000000000000000000000000000004800690021000200"
                                   "000000000000030000000000000006";
  std::string hex;
  for (unsigned char c : bytes_of(dir / "doc.tokens")) {
    char b[3];
    std::snprintf(b, sizeof(b), "%02x", c);
    hex += b;
  }
  EXPECT_EQ(hex, expected_hex);
}
