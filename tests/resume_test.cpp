// `horizon train` cut anywhere and resumed ends with the bytes of the uncut
// run: SIGKILL at random moments (during steps, saves, start-up), SIGINT and
// SIGTERM (finish the step, save, exit 130/143), each followed by --resume;
// metrics.jsonl then has every step once, as valid JSON.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "cli/run_directory.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// A model small enough that a step takes milliseconds.
std::string small_model(const testing::TempDir& dir) {
  std::string text = testing::read_file(testing::source_path("models/tiny.json"));
  auto set = [&](const std::string& key, const std::string& value) {
    const size_t at = text.find("\"" + key + "\":");
    ASSERT_NE(at, std::string::npos) << key;
    const size_t begin = text.find(':', at) + 1, end = text.find_first_of(",\n}", begin);
    text.replace(begin, end - begin, " " + value);
  };
  set("hidden", "64");
  set("layers", "2");
  set("head_dim", "16");
  set("intermediate", "96");
  return dir.write("small.json", text);
}

struct RunSetup {
  testing::TempDir dir;
  std::string common;
  explicit RunSetup(int64_t steps, int64_t save_every = 2) {
    std::string text;
    for (int i = 0; i < 400; ++i)
      text += "a run cut anywhere ends where the uncut one does " + std::to_string(i % 13) + "\n";
    common = small_model(dir) + " --data " + dir.write("corpus.txt", text) + " --batch 4 --seq 32 --micro-batches 2" +
             " --steps " + std::to_string(steps) + " --warmup 2 --lr 3e-3 --eval-every 4 --eval-batches 1" +
             " --save-every " + std::to_string(save_every) + " --device cpu";
  }
};

// Step numbers of metrics.jsonl, each line parsed as JSON.
std::vector<int64_t> metric_steps(const std::string& path) {
  std::vector<int64_t> steps;
  std::istringstream in(testing::read_file(path));
  for (std::string line; std::getline(in, line);) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "not JSON: " << line;
    if (!j.is_discarded()) steps.push_back(j["step"].get<int64_t>());
  }
  return steps;
}

std::vector<int64_t> one_to(int64_t n) {
  std::vector<int64_t> v;
  for (int64_t i = 1; i <= n; ++i) v.push_back(i);
  return v;
}

void expect_same_run(const std::string& uncut, const std::string& cut, int64_t steps) {
  const std::string last = "/checkpoint-" + std::to_string(steps) + "/";
  for (const std::string& f :
       {last + "model.safetensors", last + "optimizer.safetensors", std::string("/model.safetensors")}) {
    ASSERT_TRUE(fs::exists(cut + f)) << f;
    EXPECT_TRUE(testing::read_file(uncut + f) == testing::read_file(cut + f)) << f << " differs from the uncut run";
  }
  // The same state but for the metrics' length (their lines hold timings).
  auto state = [&](const std::string& run) {
    nlohmann::json j = nlohmann::json::parse(testing::read_file(run + last + "trainer_state.json"));
    j.erase("metrics_bytes");
    return j;
  };
  EXPECT_EQ(state(uncut), state(cut));
  EXPECT_EQ(metric_steps(cut + "/metrics.jsonl"), one_to(steps));
}

// Starts `horizon train ARGS` in the background; returns its pid.
pid_t start(const std::string& args, const std::string& err = "/dev/null") {
  const char* binary = std::getenv("HORIZON_BINARY");
  const std::string cmd = std::string("exec ") + (binary && *binary ? binary : HORIZON_BINARY) + " train " + args +
                          " >/dev/null 2>" + err + " </dev/null";
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// The step of the last complete line of a metrics file being written, or 0.
int64_t last_step(const std::string& path) {
  if (!fs::exists(path)) return 0;
  const std::string text = testing::read_file(path);
  const size_t end = text.rfind('\n');
  if (end == std::string::npos) return 0;
  const size_t begin = text.rfind('\n', end - 1);
  nlohmann::json j =
      nlohmann::json::parse(text.substr(begin == std::string::npos ? 0 : begin + 1, end), nullptr, false);
  return j.is_object() && j.contains("step") ? j["step"].get<int64_t>() : 0;
}

// SIGKILL the first attempt during start-up, then each one 1 to 4 steps
// after it resumed, a random 0-15 ms into a step or a save; resume each
// time. HORIZON_KILL_SOAK=N (scripts/kill_soak.sh) raises the 5 kills to N.
TEST(Resume, SigkillAtRandomMomentsEndsWithTheBytesOfTheUncutRun) {
  const char* soak = std::getenv("HORIZON_KILL_SOAK");
  const int kills = soak && *soak ? std::max(1, std::atoi(soak)) : 5;
  const int64_t steps = 6 * kills + 6;
  RunSetup s(steps, 3);
  const std::string uncut = s.dir / "uncut", cut = s.dir / "cut";
  testing::CommandResult full = testing::run_horizon("train " + s.common + " --save " + uncut);
  ASSERT_EQ(full.exit_code, 0) << full.err;

  std::mt19937 rng(soak ? std::random_device()() : 12);  // the suite's cuts reproduce; a soak's vary
  auto command = [&] {
    const auto saved = fs::exists(cut) ? cli::list_checkpoints(cut) : std::vector<std::pair<int64_t, std::string>>{};
    return std::make_pair(s.common + " --save " + cut + (saved.empty() ? " --overwrite" : " --resume " + cut),
                          saved.empty() ? int64_t{0} : saved.back().first);
  };
  for (int k = 0; k < kills; ++k) {
    auto [args, from] = command();
    const pid_t pid = start(args);
    if (k == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 300)(rng)));
    } else {
      const int64_t target = from + std::uniform_int_distribution<int64_t>(1, 4)(rng);
      const auto deadline = Clock::now() + std::chrono::seconds(60);
      while (Clock::now() < deadline && last_step(cut + "/metrics.jsonl") < target)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, 15000)(rng)));
    }
    kill(pid, SIGKILL);
    ASSERT_EQ(wait_exit(pid), 128 + SIGKILL) << "cut " << k << " came after the run ended";
  }
  testing::CommandResult last = testing::run_horizon("train " + command().first);
  ASSERT_EQ(last.exit_code, 0) << last.err;
  expect_same_run(uncut, cut, steps);
}

// SIGINT or SIGTERM once training runs: the step finishes, a checkpoint is
// saved, the exit status is 128 + the signal and the message says how to resume.
void interrupt_and_resume(int sig) {
  constexpr int64_t kSteps = 400;  // far more than the time to the signal
  RunSetup s(kSteps);
  const std::string run = s.dir / "run";
  testing::TempDir tmp;
  const std::string err = tmp / "err";
  const std::string args = s.common + " --save " + run;
  const pid_t pid = start(args, err);
  // Wait for three steps of metrics, then interrupt.
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < deadline &&
         (!fs::exists(run + "/metrics.jsonl") || metric_steps(run + "/metrics.jsonl").size() < 3))
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  kill(pid, sig);
  EXPECT_EQ(wait_exit(pid), 128 + sig);
  const std::string message = testing::read_file(err);
  EXPECT_NE(message.find("resume with:"), std::string::npos) << message;
  auto saved = cli::list_checkpoints(run);
  ASSERT_FALSE(saved.empty()) << message;
  const int64_t at = saved.back().first;
  EXPECT_EQ(metric_steps(run + "/metrics.jsonl"), one_to(at)) << "the interrupted step was finished and saved";
  EXPECT_FALSE(fs::exists(run + "/model.safetensors")) << "an interrupted run is not final";
  // Resume and end a few steps later: --steps is where to end.
  const std::string end = std::to_string(at + 2);
  testing::CommandResult r = testing::run_horizon("train " + args + " --resume " + run + " --steps " + end);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(metric_steps(run + "/metrics.jsonl"), one_to(at + 2));
  EXPECT_TRUE(fs::exists(run + "/checkpoint-" + end + "/manifest.json"));
}

TEST(Resume, SigintFinishesTheStepSavesAndExits130) { interrupt_and_resume(SIGINT); }
TEST(Resume, SigtermFinishesTheStepSavesAndExits143) { interrupt_and_resume(SIGTERM); }

TEST(Resume, CosineScheduleResumesExactlyFromEveryCheckpoint) {
  constexpr int64_t kSteps = 8;
  RunSetup s(kSteps);
  const std::string uncut = s.dir / "uncut";
  ASSERT_EQ(testing::run_horizon("train " + s.common + " --save " + uncut).exit_code, 0);
  // Resume from an early checkpoint into another folder, without --steps:
  // the saved total (8) is where the cosine ends, not the default 100.
  const std::string other = s.dir / "other";
  std::string without_steps = s.common;
  without_steps.erase(without_steps.find(" --steps 8"), std::string(" --steps 8").size());
  testing::CommandResult r =
      testing::run_horizon("train " + without_steps + " --resume " + uncut + "/checkpoint-4 --save " + other);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* f : {"/checkpoint-8/model.safetensors", "/checkpoint-8/optimizer.safetensors"})
    EXPECT_TRUE(testing::read_file(uncut + f) == testing::read_file(other + f)) << f;
}

TEST(Resume, RefusesASecondWriterAReusedFolderAndAFile) {
  RunSetup s(2);
  const std::string run = s.dir / "run";
  ASSERT_EQ(testing::run_horizon("train " + s.common + " --save " + run).exit_code, 0);
  testing::CommandResult again = testing::run_horizon("train " + s.common + " --save " + run);
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("already holds a run"), std::string::npos) << again.err;
  EXPECT_EQ(testing::run_horizon("train " + s.common + " --save " + run + " --overwrite").exit_code, 0);
  const std::string file = s.dir.write("file", "x");
  testing::CommandResult onto = testing::run_horizon("train " + s.common + " --save " + file);
  EXPECT_EQ(onto.exit_code, 1);
  EXPECT_NE(onto.err.find("existing file"), std::string::npos) << onto.err;
}

}  // namespace
}  // namespace horizon
