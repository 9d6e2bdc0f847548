// Bad input to `horizon train`, tried as a user would: every option and
// model-file number out of range, sizes that overflow or cannot fit, data
// that is not what it claims, a run that diverges. Each is a one-line error
// (exit 1) naming the input and the fix, never a crash, a hang or NaN weights.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "tests/test_support.h"

namespace horizon {
namespace {

namespace fs = std::filesystem;

struct BadRun {
  testing::TempDir dir;
  std::string model, data;
  BadRun() {
    std::string t = testing::read_file(testing::source_path("models/tiny.json"));
    t = std::regex_replace(t, std::regex("\"hidden\": [0-9]+"), "\"hidden\": 64");
    t = std::regex_replace(t, std::regex("\"layers\": [0-9]+"), "\"layers\": 2");
    t = std::regex_replace(t, std::regex("\"head_dim\": [0-9]+"), "\"head_dim\": 16");
    t = std::regex_replace(t, std::regex("\"intermediate\": [0-9]+"), "\"intermediate\": 96");
    model = dir.write("small.json", t);
    std::string text;
    for (int i = 0; i < 200; ++i) text += "bad input is refused with a clear error " + std::to_string(i) + "\n";
    data = dir.write("corpus.txt", text);
  }
  // A model file with one substitution (a regex on small.json).
  std::string model_with(const std::string& pattern, const std::string& replacement) const {
    const std::string t = testing::read_file(model);
    const std::string changed =
        std::regex_replace(t, std::regex(pattern), replacement, std::regex_constants::format_first_only);
    EXPECT_NE(t, changed) << pattern;
    return dir.write("changed.json", changed);
  }
  testing::CommandResult train(const std::string& args, const std::string& m = "") const {
    return testing::run_horizon("train " + (m.empty() ? model : m) + " --steps 2 --batch 2 --seq 16 --device cpu " +
                                args);
  }
};

void expect_refused(const testing::CommandResult& r, std::initializer_list<std::string> parts) {
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(r.err.find("internal error"), std::string::npos) << r.err;
  for (const std::string& p : parts) EXPECT_NE(r.err.find(p), std::string::npos) << r.err << "\n  lacks: " << p;
}

TEST(TrainBadInput, OptimizerAndScheduleOptionsFollowPyTorchsRanges) {
  BadRun r;
  const std::string d = " --data " + r.data;
  expect_refused(r.train(d + " --lr -1"), {"--lr -1 is out of range [0, inf)"});
  expect_refused(r.train(d + " --beta1 1"), {"--beta1 1", "[0, 1)"});
  expect_refused(r.train(d + " --beta2 2"), {"--beta2 2", "[0, 1)"});
  expect_refused(r.train(d + " --eps -1e-8"), {"--eps"});
  expect_refused(r.train(d + " --weight-decay -10"), {"--weight-decay -10"});
  expect_refused(r.train(d + " --warmup -5"), {"--warmup must be 0 or positive"});
  expect_refused(r.train(d + " --clip -1"), {"--clip -1"});
  expect_refused(r.train(d + " --min-lr-ratio 1.5"), {"--min-lr-ratio 1.5", "[0, 1]"});
  expect_refused(r.train(d + " --keep -1"), {"--keep"});
  expect_refused(r.train(d + " --save-every 2"), {"--save-every needs --save"});
  EXPECT_EQ(r.train(d + " --beta1 0 --beta2 0 --weight-decay 0 --clip 0 --min-lr-ratio 1 --lr 0").exit_code, 0)
      << "the edges of each range are allowed";
}

TEST(TrainBadInput, ModelFileNumbersKeysAndSizes) {
  BadRun r;
  const std::string d = " --data " + r.data;
  expect_refused(r.train(d, r.model_with("\"rms_eps\": [0-9.e-]+", "\"rms_eps\": -1e-5")), {"config.rms_eps", "> 0"});
  expect_refused(r.train(d, r.model_with("\"init_std\": [0-9.e-]+", "\"init_std\": -0.02")),
                 {"config.init_std", ">= 0"});
  expect_refused(r.train(d, r.model_with("\"hidden\": 64", "\"hidden\": 0")), {"config.hidden", "positive integer"});
  expect_refused(r.train(d, r.model_with("\"init\": \"normal\"", "\"ini{t\": \"normal\"")),
                 {"ini{t", "unknown key", "did you mean \"init\""});
  expect_refused(r.train(d, r.model_with("\"stages\"", "\"stagse\": [], \"stages\"")), {"did you mean \"stages\""});
  // 2^62: the element count overflows int64.
  expect_refused(r.train(d, r.model_with("\"vocab\": 256", "\"vocab\": 4611686018427387904")),
                 {"embed_tokens", "exceeds 2^63"});
  // 10^9 layers: refused at once by the size check, whose time does not grow with depth.
  expect_refused(r.train(d + " --host-mem 1G", r.model_with("\"layers\": 2", "\"layers\": 1000000000")),
                 {"does not fit", "nothing was allocated"});
  expect_refused(r.train(d + " --batch 1000000000"), {"does not fit", "batch tokens", "--batch"});
  expect_refused(r.train(d + " --batch 1000000000 --stream"), {"does not fit", "batch tokens"});
}

TEST(TrainBadInput, DataThatIsNotWhatItClaims) {
  BadRun r;
  std::string header(32, '\0');
  header.replace(0, 8, "HZTOKXNS");
  expect_refused(r.train("--data " + r.dir.write("damaged.tokens", header + "ab")), {"damaged.tokens", "bad magic"});
  header.replace(0, 8, "XXXXXXXX");
  expect_refused(r.train("--data " + r.dir.write("any.tokens", header)), {"any.tokens", "bad magic"});
  header.replace(0, 8, "HZTOKENZ");
  expect_refused(r.train("--data " + r.dir.write("noext.bin", header)), {"noext.bin", "bad magic"});
  expect_refused(r.train("--data /dev/zero"), {"/dev/zero", "not a regular file"});
  expect_refused(r.train("--data " + r.data + " --save " + r.data), {"--save needs a folder", "existing file"});
}

TEST(TrainBadInput, DivergenceSkipsThenStopsWithValidMetricsAndNoNonFiniteCheckpoint) {
  BadRun r;
  const std::string save = r.dir / "run";
  // lr 1e30: the first update is finite but huge, the next steps overflow.
  testing::CommandResult out =
      r.train("--data " + r.data + " --steps 20 --lr 1e30 --warmup 0 --schedule constant --save " + save);
  expect_refused(out, {"training diverged", "3 steps in a row", "--max-bad-steps"});
  EXPECT_NE(out.err.find("update skipped"), std::string::npos) << out.err;
  std::istringstream in(testing::read_file(save + "/metrics.jsonl"));
  int lines = 0, skipped = 0;
  for (std::string line; std::getline(in, line); ++lines) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "metrics.jsonl line is not JSON: " << line;
    skipped += j.value("skipped", false);
  }
  EXPECT_EQ(skipped, 3);
  EXPECT_FALSE(fs::exists(save + "/model.safetensors")) << "a diverged run wrote its final model";
}

}  // namespace
}  // namespace horizon
