// The pipeline's layering, checked on every build's tests: a file may include
// headers of its own layer and of the layers below it (frontend -> ir ->
// passes -> plan -> codegen -> runtime; data and cli beside, support under
// all), never one above. Per-layer CMake libraries could not enforce this:
// every header is included by its path from the repository root, so any
// target can name any header; scanning the includes can.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/test_support.h"

namespace horizon {
namespace {

// What each layer may include besides itself.
const std::map<std::string, std::set<std::string>>& allowed() {
  static const std::map<std::string, std::set<std::string>> layers = {
      {"support", {}},
      {"ir", {"support"}},
      {"frontend", {"ir", "support"}},
      {"data", {"frontend", "ir", "support"}},
      {"passes", {"ir", "support"}},
      {"plan", {"passes", "ir", "support"}},
      {"codegen", {"ir", "support"}},
      {"runtime", {"codegen", "plan", "passes", "ir", "support"}},
      {"cli", {"runtime", "codegen", "plan", "passes", "data", "frontend", "ir", "support"}},
  };
  return layers;
}

/// "FILE:LINE includes LAYER/...: LAYER is above FROM" for each include of
/// `text` (the file `path`, in layer `from`) that reaches up.
std::vector<std::string> violations(const std::string& from, const std::string& path, const std::string& text) {
  std::vector<std::string> out;
  static const std::regex include(R"(^\s*#\s*include\s+"([a-z_]+)/)");
  std::istringstream in(text);
  int line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    std::smatch m;
    if (!std::regex_search(line, m, include)) continue;
    const std::string to = m[1];
    if (to == from || !allowed().count(to)) continue;  // own layer, or not a layer (tests/, fuzz/)
    if (!allowed().at(from).count(to))
      out.push_back(path + ":" + std::to_string(line_no) + " includes " + to + "/: " + to + " is not below " + from);
  }
  return out;
}

TEST(Layering, NoIncludeReachesUpThePipeline) {
  const std::filesystem::path root = testing::source_path("");
  int scanned = 0;
  for (const auto& [layer, _] : allowed()) {
    for (const auto& e : std::filesystem::recursive_directory_iterator(root / layer)) {
      const std::string ext = e.path().extension().string();
      if (!e.is_regular_file() || (ext != ".h" && ext != ".cpp")) continue;
      std::ifstream f(e.path());
      const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      for (const std::string& v : violations(layer, std::filesystem::relative(e.path(), root).string(), text))
        ADD_FAILURE() << v;
      ++scanned;
    }
  }
  EXPECT_GT(scanned, 200) << "the scan found too few sources under " << root;
}

TEST(Layering, APlantedUpwardIncludeIsCaught) {
  const auto v = violations("runtime", "runtime/x.cpp",
                            "#include <vector>\n#include \"runtime/a.h\"\n#include \"cli/arguments.h\"\n");
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0], "runtime/x.cpp:3 includes cli/: cli is not below runtime");
  EXPECT_TRUE(violations("cli", "cli/y.cpp", "#include \"runtime/trainer.h\"\n").empty());
  EXPECT_EQ(violations("ir", "ir/z.h", "#  include \"passes/lower.h\"\n").size(), 1u);
}

}  // namespace
}  // namespace horizon
