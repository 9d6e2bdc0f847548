// support/shared_library: a library that is not there is a UserError naming
// every candidate, the loader's reason and the fix; a missing symbol names
// the library. The CUDA libraries are opened this way on first use, so a
// process that never calls them does not map them.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "support/error.h"
#include "support/shared_library.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

TEST(SharedLibrary, MissingLibraryNamesCandidatesReasonAndFix) {
  try {
    SharedLibrary lib({"libhorizon-no-such.so.1", "/nonexistent/libhorizon-no-such.so.1"}, "install it or use --device cpu");
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
  setenv("LD_DEBUG", "files", 1);
  const testing::CommandResult r = testing::run_horizon("compile " + testing::source_path("models/tiny.json"));
  unsetenv("LD_DEBUG");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_NE(r.err.find("libhorizon"), std::string::npos) << "LD_DEBUG listed no libraries:\n" << r.err;
  EXPECT_EQ(r.err.find("libcublasLt"), std::string::npos) << "a CPU-only run loaded cuBLASLt";
  EXPECT_EQ(r.err.find("libnvrtc"), std::string::npos) << "a CPU-only run loaded NVRTC";
}

}  // namespace
}  // namespace horizon
