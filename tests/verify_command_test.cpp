// `horizon verify FILE`: a schedule dump the compiler printed verifies (and
// simulates with its model); the same dump with one wait deleted is
// refused as a race naming both instructions; malformed text names the
// file and line; a schedule of another model is refused for simulation.
#include <gtest/gtest.h>

#include <string>

#include "tests/test_support.h"

namespace horizon {
namespace {

using testing::run_horizon;
using testing::source_path;

std::string dump(const testing::TempDir& dir) {
  auto r = run_horizon("compile " + source_path("models/tiny.json") +
                       " --emit=schedule --batch 2 --seq 16 --resident 0 --checkpoint-every 2");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return dir.write("tiny.schedule", r.out);
}

TEST(VerifyCommand, TheCompilersScheduleVerifiesAndSimulates) {
  testing::TempDir dir;
  const std::string file = dump(dir);
  auto r = run_horizon("verify " + file);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("schedule of tiny verified"), std::string::npos) << r.out;
  r = run_horizon("verify " + file + " --model " + source_path("models/tiny.json"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("simulated on"), std::string::npos) << r.out;
  r = run_horizon("verify " + file + " --model " + source_path("models/tiny-qwen.json"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("pass the model it was compiled from"), std::string::npos) << r.err;
}

TEST(VerifyCommand, AnEditThatDropsAWaitIsARace) {
  testing::TempDir dir;
  std::string text = testing::read_file(dump(dir));
  // The first wait on the compute stream: the bind of the embedding's weights waits for their stream_in.
  const size_t wait = text.find("  compute  wait ");
  ASSERT_NE(wait, std::string::npos);
  text.erase(wait, text.find('\n', wait) + 1 - wait);
  auto r = run_horizon("verify " + dir.write("edited.schedule", text));
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.err.find("stream_in embed[0]"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("bind embed[0]"), std::string::npos) << r.err;
}

TEST(VerifyCommand, MalformedTextNamesTheFileAndLine) {
  testing::TempDir dir;
  std::string text = testing::read_file(dump(dir));
  text.replace(text.find("launch embed[0]"), 6, "lunch ");
  const std::string file = dir.write("typo.schedule", text);
  auto r = run_horizon("verify " + file);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(file + ":"), std::string::npos) << r.err;
  r = run_horizon("verify " + dir / "missing.schedule");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("does not exist"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace horizon
