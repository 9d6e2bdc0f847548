// Golden IR dumps of every model we ship, and the print -> parse -> print
// round trip that keeps the text form stable.
#include <gtest/gtest.h>

#include <filesystem>

#include "frontend/model_json.h"
#include "ir/param_count.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "passes/lower.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

using testing::source_path;

struct ShippedModel {
  std::string path;    // relative to the source tree
  std::string golden;  // file name under tests/golden
};

std::vector<ShippedModel> shipped_models() {
  std::vector<ShippedModel> out;
  for (const auto& e : std::filesystem::directory_iterator(source_path("models")))
    if (e.path().extension() == ".json")
      out.push_back({"models/" + e.path().filename().string(), e.path().stem().string() + ".hir"});
  for (const auto& e : std::filesystem::directory_iterator(source_path("models/hf")))
    out.push_back(
        {"models/hf/" + e.path().filename().string() + "/config.json", "hf-" + e.path().filename().string() + ".hir"});
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.path < b.path; });
  return out;
}

TEST(IrGolden, EveryShippedModelMatchesItsGoldenDump) {
  auto models = shipped_models();
  ASSERT_GE(models.size(), 12u);
  for (const ShippedModel& m : models) {
    ir::Module mod = frontend::load_model(source_path(m.path));
    passes::lower(mod);
    EXPECT_EQ(testing::check_golden(m.golden, ir::print_module(mod)), "") << m.path;
  }
}

TEST(IrGolden, PrintParsePrintIsIdentical) {
  for (const ShippedModel& m : shipped_models()) {
    ir::Module mod = frontend::load_model(source_path(m.path));
    std::string once = ir::print_module(mod);
    ir::Module parsed = ir::parse_module(once, m.golden);
    ir::verify_module(parsed);
    EXPECT_EQ(ir::print_module(parsed), once) << m.path;
  }
}

TEST(IrGolden, ParsedDumpLoadsAsAModel) {
  testing::TempDir tmp;
  ir::Module mod = frontend::load_model(source_path("models/tiny-qwen.json"));
  std::string dump = ir::print_module(mod);
  std::string path = tmp.write("tiny-qwen.hir", dump);
  EXPECT_EQ(ir::print_module(frontend::load_model(path)), dump);
}

TEST(ParamCount, MatchesPublishedCounts) {
  struct Case {
    const char* path;
    int64_t params;
  } cases[] = {
      {"models/llama2-7b.json", 6738415616},
      {"models/hf/llama-2-7b/config.json", 6738415616},
      {"models/hf/qwen2.5-7b/config.json", 7615616512},
      {"models/hf/llama-3-8b/config.json", 8030261248},
      {"models/hf/mistral-7b-v0.1/config.json", 7241732096},
      {"models/hf/qwen2.5-0.5b/config.json", 494032768},  // tied embeddings counted once
      {"models/hf/qwen3-0.6b/config.json", 596049920},    // q/k norms: 256 per layer
      {"models/hf/llama-7b/config.json", 6738415616},
      {"models/hf/mistral-7b-v0.3/config.json", 7248023552},
      {"models/tiny-qwen3.json", 1017472},
      {"models/llama2-13b.json", 13015864320},
      {"models/llama-70b.json", 68976648192},
  };
  for (const Case& c : cases)
    EXPECT_EQ(ir::summarize_params(frontend::load_model(source_path(c.path))).total, c.params) << c.path;
  int64_t one_b = ir::summarize_params(frontend::load_model(source_path("models/llama-1b.json"))).total;
  EXPECT_NEAR(static_cast<double>(one_b), 0.94e9, 0.005e9);
}

TEST(ParamCount, TiedEmbeddingIsReportedOnce) {
  ir::ParamSummary s = ir::summarize_params(frontend::load_model(source_path("models/tiny-qwen.json")));
  ASSERT_EQ(s.stages.back().stage, "head");
  ASSERT_EQ(s.stages.back().tied.size(), 1u);
  EXPECT_EQ(s.stages.back().tied[0], "model.embed_tokens.weight");
  EXPECT_EQ(s.stages.back().per_instance, 128);  // only the final norm is new
}

}  // namespace
}  // namespace horizon
