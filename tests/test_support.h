// Helpers shared by the test files: paths into the source tree, temp
// directories, golden-file comparison and running the `horizon` binary.
#pragma once

#include <string>

namespace horizon::testing {

/// Absolute path of a file in the source tree ("models/tiny.json").
std::string source_path(const std::string& relative);

/// A fresh empty directory under the system temp dir, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  /// Writes `text` to path()/name and returns the full path.
  std::string write(const std::string& name, const std::string& text) const;

 private:
  std::string path_;
};

std::string read_file(const std::string& path);

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
