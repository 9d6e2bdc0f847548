#include "tests/test_support.h"

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "frontend/model_json.h"
#include "passes/lower.h"
#include "support/random.h"

namespace horizon::testing {
namespace {

// Every pipeline a test runs, in this process or a `horizon` it starts,
// verifies the IR after each pass that changed it (passes/pass_manager.h).
const bool kVerifyEachPass = setenv("HORIZON_VERIFY_IR", "1", 0) == 0;

}  // namespace

ir::Module lowered(const std::string& name) {
  ir::Module m = frontend::load_model(source_path("models/" + name));
  passes::lower(m);
  return m;
}

std::string test_data_path(const std::string& relative) {
  std::string path = std::string(HORIZON_TEST_DATA_DIR) + "/" + relative;
  return std::filesystem::exists(path) ? path : "";
}

std::string source_path(const std::string& relative) {
  // A test binary carried to another machine (the GPU box) finds the tree there.
  const char* root = std::getenv("HORIZON_SOURCE_DIR");
  return std::string(root && *root ? root : HORIZON_SOURCE_DIR) + "/" + relative;
}

TempDir::TempDir() {
  std::random_device rd;
  auto dir = std::filesystem::temp_directory_path() / ("horizon-test-" + std::to_string(rd()) + std::to_string(rd()));
  std::filesystem::create_directories(dir);
  path_ = dir.string();
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::write(const std::string& name, const std::string& text) const {
  std::string p = path_ + "/" + name;
  std::filesystem::create_directories(std::filesystem::path(p).parent_path());
  std::ofstream(p, std::ios::binary) << text;
  return p;
}

std::vector<runtime::TokenBatch> random_batches(int64_t steps, int64_t batch, int64_t seq, uint64_t seed, int64_t vocab,
                                                int64_t mask_every, int64_t mask_at) {
  std::vector<runtime::TokenBatch> out;
  Rng rng(seed);
  for (int64_t s = 0; s < steps; ++s) {
    runtime::TokenBatch b{batch, seq, {}, {}, {}, {}};
    for (int64_t i = 0; i < batch * seq; ++i) {
      b.tokens.push_back(static_cast<int32_t>(rng.below(static_cast<uint64_t>(vocab))));
      b.targets.push_back(i % mask_every == mask_at ? -1
                                                    : static_cast<int32_t>(rng.below(static_cast<uint64_t>(vocab))));
    }
    out.push_back(std::move(b));
  }
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string check_golden(const std::string& name, const std::string& actual) {
  std::string path = source_path("tests/golden/" + name);
  if (const char* u = std::getenv("HORIZON_UPDATE_GOLDEN"); u && std::string(u) == "1") {
    std::ofstream(path, std::ios::binary) << actual;
    return "";
  }
  if (!std::filesystem::exists(path)) return "golden file " + path + " is missing (run with HORIZON_UPDATE_GOLDEN=1)";
  std::string expected = read_file(path);
  if (expected == actual) return "";
  std::istringstream a(actual), e(expected);
  std::string la, le;
  for (int line = 1;; ++line) {
    bool ga = static_cast<bool>(std::getline(a, la)), ge = static_cast<bool>(std::getline(e, le));
    if (!ga && !ge) break;
    if (la != le || ga != ge)
      return name + " differs at line " + std::to_string(line) + ":\n  expected: " + (ge ? le : "<eof>") +
             "\n  actual:   " + (ga ? la : "<eof>") +
             "\n(HORIZON_UPDATE_GOLDEN=1 rewrites goldens after a deliberate change)";
  }
  return name + " differs";
}

CommandResult run_horizon(const std::string& args) {
  TempDir tmp;
  std::string out = tmp.path() + "/out", err = tmp.path() + "/err";
  const char* binary = std::getenv("HORIZON_BINARY");
  std::string cmd =
      std::string(binary && *binary ? binary : HORIZON_BINARY) + " " + args + " >" + out + " 2>" + err + " </dev/null";
  int status = std::system(cmd.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

}  // namespace horizon::testing
