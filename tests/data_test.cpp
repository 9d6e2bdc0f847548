// The data layer: byte tokenizer, token files (and each way one can be
// damaged), text folders with binary files and symlinks, the train/validation
// split and the seeded batch sampler.
#include <gtest/gtest.h>

#include <unistd.h>
#include "tests/test_support.h"

#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>

#include "data/batch_sampler.h"
#include "data/byte_tokenizer.h"
#include "data/token_dataset.h"
#include "data/token_file.h"
#include "support/error.h"

namespace fs = std::filesystem;
using namespace horizon;
using namespace horizon::data;

namespace {

using horizon::testing::TempDir;
using horizon::testing::expect_user_error;

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f << bytes;
}

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

/// Runs `fn`, expects a UserError whose message contains every one of `parts`.

std::vector<int32_t> iota_tokens(int n) {
  std::vector<int32_t> t(n);
  std::iota(t.begin(), t.end(), 0);
  return t;
}

}  // namespace

TEST(DataTokenizer, RoundTripIsLossless) {
  ByteTokenizer tok;
  EXPECT_EQ(tok.vocab_size(), 256);
  std::string text = "h\xC3\xA9llo\n\t";
  text.push_back('\0');
  text += "\xFF end";
  std::vector<int32_t> ids = tok.encode(text);
  ASSERT_EQ(ids.size(), text.size());
  EXPECT_EQ(ids[0], 'h');
  EXPECT_EQ(ids[1], 0xC3);  // bytes, never negative chars
  EXPECT_EQ(ids[2], 0xA9);
  EXPECT_EQ(ids[9], 0xFF);
  EXPECT_EQ(tok.decode(ids), text);
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  EXPECT_EQ(tok.decode(tok.encode(all)), all);
}

TEST(DataTokenizer, DecodeOutOfRangeIsReplacementChar) {
  std::vector<int32_t> ids = {'a', 300, -1, 'b'};
  EXPECT_EQ(ByteTokenizer().decode(ids), "a\xEF\xBF\xBD\xEF\xBF\xBD"
                                         "b");
}

TEST(DataTokenFile, MatchesDocumentedBytes) {
  TempDir dir;
  std::vector<int32_t> tokens = {72, 105};
  write_token_file(dir / "hi.tokens", tokens, 256);
  const std::string expected("HZTOKENS\x01\0\0\0\x02\0\0\0\x02\0\0\0\0\0\0\0\0\x01\0\0\0\0\0\0\x48\0\x69\0", 36);
  EXPECT_EQ(read_all(dir / "hi.tokens"), expected);
  EXPECT_FALSE(fs::exists(dir / "hi.tokens.tmp"));
}

TEST(DataTokenFile, RoundTripUint16AndUint32) {
  TempDir dir;
  std::vector<int32_t> small = {0, 1, 255, 7, 65535};
  write_token_file(dir / "a.tokens", small, 65536);
  TokenFile a = read_token_file(dir / "a.tokens");
  EXPECT_EQ(a.tokens, small);
  EXPECT_EQ(a.vocab, 65536);
  EXPECT_EQ(a.bytes_per_token, 2);
  EXPECT_EQ(fs::file_size(dir / "a.tokens"), kTokenFileHeaderBytes + 2 * small.size());

  std::vector<int32_t> big = {0, 65536, 151935, 3};
  write_token_file(dir / "b.tokens", big, 151936);
  TokenFile b = read_token_file(dir / "b.tokens");
  EXPECT_EQ(b.tokens, big);
  EXPECT_EQ(b.bytes_per_token, 4);
  EXPECT_TRUE(is_token_file(dir / "b.tokens"));

  write_token_file(dir / "empty.tokens", std::vector<int32_t>{}, 256);
  EXPECT_TRUE(read_token_file(dir / "empty.tokens").tokens.empty());
}

TEST(DataTokenFile, WriteRefusesTokenOutsideVocab) {
  TempDir dir;
  std::vector<int32_t> tokens = {1, 256};
  expect_user_error([&] { write_token_file(dir / "x.tokens", tokens, 256); }, {"x.tokens", "token 1", "256"});
  EXPECT_FALSE(fs::exists(dir / "x.tokens"));
  EXPECT_FALSE(fs::exists(dir / "x.tokens.tmp"));
}

TEST(DataTokenFile, EachCorruptionIsNamed) {
  TempDir dir;
  const std::string good_path = dir / "good.tokens";
  write_token_file(good_path, std::vector<int32_t>{1, 2, 3, 4}, 256);
  const std::string good = read_all(good_path);
  auto corrupt = [&](const std::string& name, std::string bytes) {
    write_bytes(dir / name, bytes);
    return dir / name;
  };
  std::string p;
  p = corrupt("short.tokens", good.substr(0, 20));
  expect_user_error([&] { read_token_file(p); }, {p, "truncated", "20 bytes"});
  std::string magic = good;
  magic[0] = 'X';
  p = corrupt("magic.tokens", magic);
  expect_user_error([&] { read_token_file(p); }, {p, "bad magic"});
  std::string version = good;
  version[8] = 9;
  p = corrupt("version.tokens", version);
  expect_user_error([&] { read_token_file(p); }, {p, "version 9"});
  std::string width = good;
  width[12] = 3;
  p = corrupt("width.tokens", width);
  expect_user_error([&] { read_token_file(p); }, {p, "bytes per token is 3"});
  p = corrupt("cut.tokens", good.substr(0, good.size() - 3));
  expect_user_error([&] { read_token_file(p); }, {p, "truncated", "4 tokens"});
  p = corrupt("extra.tokens", good + "zz");
  expect_user_error([&] { read_token_file(p); }, {p, "2 unexpected bytes"});
  std::string token = good;
  token[kTokenFileHeaderBytes + 2 * 2 + 1] = 1;  // third token becomes 3 + 256
  p = corrupt("token.tokens", token);
  expect_user_error([&] { read_token_file(p); }, {p, "token 259 at index 2", "vocab size 256"});
  expect_user_error([&] { read_token_file(dir / "missing.tokens"); }, {"missing.tokens", "cannot open"});
}

TEST(DataTokenFile, FailedWriteKeepsOldFile) {
  TempDir dir;
  const std::string path = dir / "data.tokens";
  write_token_file(path, std::vector<int32_t>{5, 6, 7}, 256);
  fs::create_directory(path + ".tmp");  // the temporary file cannot be created
  expect_user_error([&] { write_token_file(path, std::vector<int32_t>{1}, 256); }, {path, "unchanged"});
  EXPECT_EQ(read_token_file(path).tokens, (std::vector<int32_t>{5, 6, 7}));
}

TEST(DataDataset, FolderSkipsBinaryDuplicatesAndHidden) {
  TempDir dir;
  fs::create_directories(fs::path(dir.path()) / "corpus" / "sub");
  const std::string c = dir / "corpus";
  write_bytes(c + "/b.txt", "bravo");
  write_bytes(c + "/a.txt", "alpha");
  write_bytes(c + "/sub/c.txt", "charlie");
  write_bytes(c + "/a.dat", "index without NUL bytes is still skipped by name");
  write_bytes(c + "/blob.bin", std::string("bin\0ary", 7));
  write_bytes(c + "/.hidden", "secret");
  fs::create_symlink("a.txt", c + "/a.u8");           // same file twice: read once
  fs::create_directory_symlink("..", c + "/sub/up");  // a cycle: must terminate
  TokenDataset d = TokenDataset::load(c, 256, 0.0);
  EXPECT_EQ(ByteTokenizer().decode(d.tokens()), "alpha\nbravo\ncharlie");
  EXPECT_EQ(d.summary().files_read, 3);
  EXPECT_EQ(d.summary().skipped_binary, 2);
  EXPECT_EQ(d.summary().skipped_duplicate, 1);
  EXPECT_EQ(d.summary().skipped_hidden, 1);
  EXPECT_EQ(d.summary().bytes_read, 5 + 5 + 7);
}

TEST(DataDataset, SingleTextFileAndTokenFile) {
  TempDir dir;
  write_bytes(dir / "one.txt", "hello");
  EXPECT_EQ(TokenDataset::load(dir / "one.txt", 256).tokens(), ByteTokenizer().encode("hello"));
  // A token file is recognized by its magic, not by its name.
  write_token_file(dir / "data.bin", std::vector<int32_t>{300, 1, 2}, 512);
  TokenDataset d = TokenDataset::load(dir / "data.bin", 512);
  EXPECT_EQ(d.tokens(), (std::vector<int32_t>{300, 1, 2}));
  expect_user_error([&] { TokenDataset::load(dir / "data.bin", 256); }, {"data.bin", "token 300", "vocab [0, 256)"});
}

TEST(DataDataset, ErrorsNameThePath) {
  TempDir dir;
  write_bytes(dir / "high.txt", "ok \xC8");
  expect_user_error([&] { TokenDataset::load(dir / "high.txt", 128); }, {"high.txt", "token 200", "at least 256"});
  fs::create_directory(dir / "empty");
  expect_user_error([&] { TokenDataset::load(dir / "empty", 256); }, {"empty", "no text"});
  fs::create_directory(dir / "binary");
  write_bytes(dir / "binary/x.dat", "x");
  expect_user_error([&] { TokenDataset::load(dir / "binary", 256); }, {"binary", "1 binary"});
  expect_user_error([&] { TokenDataset::load(dir / "nope", 256); }, {"nope", "no such file"});
  write_bytes(dir / "t.txt", "abc");
  expect_user_error([&] { TokenDataset::load(dir / "t.txt", 256, 1.0); }, {"t.txt", "[0, 1)"});
}

TEST(DataDataset, ValidationIsTheContiguousTail) {
  TokenDataset d = TokenDataset::from_tokens(iota_tokens(1000), 1000, 0.05);
  TokenSplit train = d.train(), val = d.validation();
  ASSERT_EQ(train.tokens.size(), 950u);
  ASSERT_EQ(val.tokens.size(), 50u);
  EXPECT_EQ(train.tokens.back(), 949);
  EXPECT_EQ(val.tokens.front(), 950);
  EXPECT_EQ(val.tokens.back(), 999);
  EXPECT_EQ(train.name, "train");
  EXPECT_EQ(val.name, "validation");
}

TEST(DataSampler, SameSeedSameBatchesDifferentSeedDifferent) {
  TokenDataset d = TokenDataset::from_tokens(iota_tokens(5000), 5000);
  BatchSampler a(d.train(), 4, 16, 42), b(d.train(), 4, 16, 42), c(d.train(), 4, 16, 43);
  bool any_differs = false;
  for (int step = 0; step < 5; ++step) {
    Batch x = a.next(), y = b.next(), z = c.next();
    EXPECT_EQ(x.tokens, y.tokens);
    EXPECT_EQ(x.targets, y.targets);
    any_differs |= x.tokens != z.tokens;
  }
  EXPECT_TRUE(any_differs);
  // The state is the whole generator: restoring it replays the sequence.
  uint64_t saved = a.state();
  Batch next = a.next();
  b.set_state(saved);
  EXPECT_EQ(b.next().tokens, next.tokens);
}

TEST(DataSampler, FixedSeedGivesFixedStarts) {
  // Pins the generator and the bounded draw: a change would silently change every training run.
  TokenDataset d = TokenDataset::from_tokens(iota_tokens(100000), 100000, 0.0);
  BatchSampler s(d.train(), 3, 8, 1234);
  Batch b = s.next();
  std::vector<int32_t> starts = {b.tokens[0], b.tokens[8], b.tokens[16]};
  BatchSampler again(d.train(), 3, 8, 1234);
  Batch b2 = again.next();
  EXPECT_EQ(starts, (std::vector<int32_t>{b2.tokens[0], b2.tokens[8], b2.tokens[16]}));
  // SplitMix64 from 1234, first three outputs mod (100000 - 8); computed independently (Python).
  EXPECT_EQ(starts, (std::vector<int32_t>{4555, 972, 47506}));
}

TEST(DataSampler, TargetsAreTokensShiftedByOne) {
  TokenDataset d = TokenDataset::from_tokens(iota_tokens(3000), 3000, 0.1);
  BatchSampler s(d.train(), 8, 32, 7);
  for (int step = 0; step < 20; ++step) {
    Batch b = s.next();
    ASSERT_EQ(b.tokens.size(), 8u * 32u);
    ASSERT_EQ(b.targets.size(), 8u * 32u);
    for (int r = 0; r < 8; ++r)
      for (int t = 0; t < 32; ++t) {
        int32_t tok = b.tokens[r * 32 + t];
        EXPECT_EQ(b.targets[r * 32 + t], tok + 1);
        if (t > 0) {
          EXPECT_EQ(tok, b.tokens[r * 32 + t - 1] + 1);
        }
        EXPECT_LT(b.targets[r * 32 + t], 2700);  // never a validation token
      }
  }
}

TEST(DataSampler, DrawsCoverEveryStart) {
  TokenDataset d = TokenDataset::from_tokens(iota_tokens(20), 20, 0.0);
  BatchSampler s(d.train(), 1, 4, 99);
  std::set<int32_t> starts;
  for (int i = 0; i < 2000; ++i) starts.insert(s.next().tokens[0]);
  EXPECT_EQ(starts.size(), 16u);  // 0 .. 20-5
  EXPECT_EQ(*starts.rbegin(), 15);
}

TEST(DataSampler, ValidationBatchesAreFixedAndHeldOut) {
  TokenDataset d = TokenDataset::from_tokens(iota_tokens(2000), 2000, 0.1);
  BatchSampler s(d.validation(), 2, 16, 5);
  std::vector<Batch> first = s.validation_batches(3);
  s.next();
  std::vector<Batch> second = s.validation_batches(3);
  ASSERT_EQ(first.size(), 3u);
  for (size_t i = 0; i < first.size(); ++i) {
    EXPECT_EQ(first[i].tokens, second[i].tokens);
    for (int32_t t : first[i].tokens) EXPECT_GE(t, 1800);
  }
  EXPECT_EQ(first.front().tokens.front(), 1800);  // first window at the start of the split
  EXPECT_EQ(first.back().targets.back(), 1999);   // last window at its end
}

TEST(DataSampler, ShortSplitSaysWhatFits) {
  TokenDataset d = TokenDataset::from_tokens(iota_tokens(100), 100, 0.1);
  expect_user_error([&] { BatchSampler(d.validation(), 1, 16, 0); }, {"validation split", "10 tokens", "--seq 9"});
  expect_user_error([&] { BatchSampler(d.train(), 0, 16, 0); }, {"--batch"});
}

TEST(DataDataset, FortunesDemoCorpus) {
  const std::string fortunes = "/usr/share/games/fortunes";
  if (!fs::is_directory(fortunes)) GTEST_SKIP() << fortunes << " is not installed";
  TokenDataset d = TokenDataset::load(fortunes, 256);
  EXPECT_GT(d.summary().files_read, 0);
  EXPECT_GT(d.summary().skipped_binary, 0);     // the .dat index files
  EXPECT_GT(d.summary().skipped_duplicate, 0);  // the .u8 symlinks
  for (int32_t t : d.tokens()) ASSERT_NE(t, 0);
  EXPECT_GT(d.validation().tokens.size(), 1000u);
}
