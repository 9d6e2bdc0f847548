// support/shared_library: a library that is not there is a UserError naming
// every candidate, the loader's reason and the fix; a missing symbol names
// the library. The CUDA libraries are opened this way on first use, so a
// process that never calls them does not map them.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "support/error.h"
#include "support/shared_library.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

TEST(SharedLibrary, MissingLibraryNamesCandidatesReasonAndFix) {
  try {
    SharedLibrary lib({"libhorizon-no-such.so.1", "/nonexistent/libhorizon-no-such.so.1"},
                      "install it or use --device cpu");
    FAIL() << "opened a library that does not exist";
  } catch (const UserError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("cannot load libhorizon-no-such.so.1"), std::string::npos) << m;
    EXPECT_NE(m.find("/nonexistent/libhorizon-no-such.so.1"), std::string::npos) << m;
    EXPECT_NE(m.find("use --device cpu"), std::string::npos) << m;
  }
}

TEST(SharedLibrary, ResolvesAFunctionAndNamesAMissingOne) {
  SharedLibrary libc({"libc.so.6"}, "");
  int (*abs_fn)(int) = nullptr;
  resolve(libc, "abs", abs_fn);
  EXPECT_EQ(abs_fn(-7), 7);
  try {
    libc.symbol("horizon_no_such_function");
    FAIL() << "found a function that does not exist";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("libc.so.6 has no horizon_no_such_function"), std::string::npos) << e.what();
  }
}

// The point of opening them on first use: a CPU-only process maps neither.
// (Checked in a fresh `horizon` process: this test binary may already have
// run GPU tests.) LD_DEBUG=files makes the loader list every library it opens.
TEST(SharedLibrary, ACpuProcessDoesNotLoadTheCudaLibraries) {
  // To files (LD_DEBUG_OUTPUT.PID), not stderr: the shell that run_horizon
  // starts would otherwise print its own list into this test's output.
  testing::TempDir dir;
  setenv("LD_DEBUG", "files", 1);
  setenv("LD_DEBUG_OUTPUT", (dir / "ld").c_str(), 1);
  const testing::CommandResult r = testing::run_horizon("compile " + testing::source_path("models/tiny.json"));
  unsetenv("LD_DEBUG");
  unsetenv("LD_DEBUG_OUTPUT");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string loaded;
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    if (e.path().filename().string().rfind("ld.", 0) == 0) loaded += testing::read_file(e.path().string());
  ASSERT_NE(loaded.find("libhorizon"), std::string::npos) << "LD_DEBUG listed no libraries";
  EXPECT_EQ(loaded.find("libcublasLt"), std::string::npos) << "a CPU-only run loaded cuBLASLt";
  EXPECT_EQ(loaded.find("libnvrtc"), std::string::npos) << "a CPU-only run loaded NVRTC";
}

}  // namespace
}  // namespace horizon
