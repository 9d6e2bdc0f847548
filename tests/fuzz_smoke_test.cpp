// Every fuzz target (fuzz/<name>_fuzz.cpp) over its committed corpus, and
// over a few mutations of each seed: the smoke the suite runs without clang.
// A target that lets anything but a handled UserError escape fails here.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "fuzz/fuzz_support.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

namespace fs = std::filesystem;

std::vector<uint8_t> read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(FuzzSmoke, EveryTargetHasACorpusAndSurvivesItAndItsTruncations) {
  ASSERT_GE(fuzz::targets().size(), 6u);
  for (const fuzz::Target& t : fuzz::targets()) {
    SCOPED_TRACE(t.name);
    const fs::path corpus = testing::source_path(std::string("fuzz/corpus/") + t.name);
    ASSERT_TRUE(fs::is_directory(corpus)) << "no seeds in " << corpus;
    int seeds = 0;
    for (const auto& entry : fs::directory_iterator(corpus)) {
      std::vector<uint8_t> input = read_bytes(entry.path());
      SCOPED_TRACE(entry.path().string());
      ++seeds;
      EXPECT_NO_THROW(t.run(input.data(), input.size()));
      // Truncations and a flipped byte: cheap damage every parser must reject cleanly.
      for (size_t cut : {input.size() / 2, input.size() * 9 / 10, size_t{8}, size_t{1}, size_t{0}})
        if (cut <= input.size()) {
          EXPECT_NO_THROW(t.run(input.data(), cut));
        }
      for (size_t at = 0; at < input.size(); at += std::max<size_t>(1, input.size() / 16)) {
        std::vector<uint8_t> flipped = input;
        flipped[at] ^= 0x5a;
        EXPECT_NO_THROW(t.run(flipped.data(), flipped.size()));
      }
    }
    EXPECT_GE(seeds, 1);
  }
}

}  // namespace
}  // namespace horizon
