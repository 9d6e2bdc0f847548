// The bad-input catalogue: each kind of mistake a user can make in a model
// description gets one line that names the file, the place and the fix.
#include <gtest/gtest.h>
#include <filesystem>

#include "frontend/model_json.h"
#include "ir/parser.h"
#include "ir/verifier.h"
#include "support/error.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

using testing::TempDir;

// Loads `text` as a model file and returns the error message ("" if it loaded).
std::string load_error(const TempDir& dir, const std::string& name, const std::string& text) {
  std::string path = dir.write(name, text);
  try {
    frontend::load_model(path);
  } catch (const UserError& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "error must be one line: " << msg;
    EXPECT_NE(msg.find(path), std::string::npos) << "error must name the file: " << msg;
    return msg;
  }
  return "";
}

std::string tiny_text() { return testing::read_file(testing::source_path("models/tiny.json")); }

std::string replace(std::string s, const std::string& from, const std::string& to) {
  auto pos = s.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  if (pos != std::string::npos) s.replace(pos, from.size(), to);
  return s;
}

TEST(BadInput, MalformedJsonNamesLineAndColumn) {
  TempDir dir;
  std::string msg = load_error(dir, "m.json", "{\n  \"format\": \"horizon-model\",\n  \"version\": 1,,\n}");
  EXPECT_NE(msg.find("m.json:3:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("malformed JSON"), std::string::npos) << msg;
}

TEST(BadInput, UnknownOpListsTheKnownOnes) {
  TempDir dir;
  std::string msg = load_error(dir, "m.json", replace(tiny_text(), "\"op\": \"silu\"", "\"op\": \"swish\""));
  EXPECT_NE(msg.find("stages[1].ops[12].op: unknown op 'swish'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("use one of: embedding"), std::string::npos) << msg;
}

TEST(BadInput, ShapeMismatchNamesOpAndDimensions) {
  TempDir dir;
  std::string text =
      replace(tiny_text(), "\"shape\": [\"intermediate\", \"hidden\"]", "\"shape\": [\"intermediate\", 128]");
  std::string msg = load_error(dir, "m.json", text);
  EXPECT_NE(msg.find("stages[1].ops[10]: linear: w's input dim (w is [out, in]) is 128 but must be 256"),
            std::string::npos)
      << msg;
}

TEST(BadInput, MissingField) {
  TempDir dir;
  std::string msg = load_error(dir, "m.json", replace(tiny_text(), "],\n      \"outputs\": [\"y\"]", "]"));
  EXPECT_NE(msg.find("stages[1]: missing field 'outputs'"), std::string::npos) << msg;
}

TEST(BadInput, UnknownKeyNamesTheNearestKnownOne) {
  TempDir dir;
  std::string msg = load_error(dir, "m.json", replace(tiny_text(), "\"outputs\": [\"y\"]", "\"outputz\": [\"y\"]"));
  EXPECT_NE(msg.find("stages[1].outputz: unknown key; did you mean \"outputs\"?"), std::string::npos) << msg;
  msg = load_error(dir, "m.json", replace(tiny_text(), "\"init\": \"normal\"", "\"ini{t\": \"normal\""));
  EXPECT_NE(msg.find("ini{t: unknown key; did you mean \"init\"?"), std::string::npos) << msg;
}

TEST(BadInput, MistypedField) {
  TempDir dir;
  std::string msg = load_error(dir, "m.json", replace(tiny_text(), "\"name\": \"embed\"", "\"name\": 7"));
  EXPECT_NE(msg.find("stages[0].name: must be a string, got an integer"), std::string::npos) << msg;
  msg = load_error(dir, "m2.json", replace(tiny_text(), "\"repeat\": \"layers\"", "\"repeat\": [4]"));
  EXPECT_NE(msg.find("stages[1].repeat: must be an integer or a config expression, got an array"), std::string::npos)
      << msg;
}

TEST(BadInput, UnknownConfigKeyInExpression) {
  TempDir dir;
  std::string msg = load_error(
      dir, "m.json", replace(tiny_text(), "\"heads*head_dim\", \"hidden\"]", "\"heads*headdim\", \"hidden\"]"));
  EXPECT_NE(msg.find("unknown config key 'headdim'"), std::string::npos) << msg;
}

TEST(BadInput, UndefinedValue) {
  TempDir dir;
  std::string msg = load_error(
      dir, "m.json", replace(tiny_text(), "\"in\": [\"gate_act\", \"up\"]", "\"in\": [\"gate_act\", \"upp\"]"));
  EXPECT_NE(msg.find("stages[1].ops[13].in[1]: 'upp' is not defined before this point"), std::string::npos) << msg;
}

TEST(BadInput, UnsupportedArchitectureListsSupported) {
  TempDir dir;
  std::string msg = load_error(dir, "config.json", R"({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"})");
  EXPECT_NE(msg.find("architectures: architecture 'GPT2LMHeadModel' is not supported"), std::string::npos) << msg;
  EXPECT_NE(msg.find("LlamaForCausalLM, Qwen2ForCausalLM, MistralForCausalLM"), std::string::npos) << msg;
}

TEST(BadInput, UnsupportedHfFieldsAreRefusedByName) {
  TempDir dir;
  std::string base = testing::read_file(testing::source_path("models/hf/llama-3-8b/config.json"));
  std::string msg = load_error(dir, "a.json", replace(base, "\"hidden_act\": \"silu\"", "\"hidden_act\": \"gelu\""));
  EXPECT_NE(msg.find("hidden_act: activation 'gelu' is not supported"), std::string::npos) << msg;
  msg = load_error(
      dir, "b.json",
      replace(base, "\"rope_scaling\": null", "\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0}"));
  EXPECT_NE(msg.find("rope_scaling.rope_type: rope scaling 'yarn' is not supported"), std::string::npos) << msg;
  msg = load_error(dir, "c.json", replace(base, "\"num_key_value_heads\": 8", "\"num_key_value_heads\": 5"));
  EXPECT_NE(msg.find("num_key_value_heads"), std::string::npos) << msg;
  msg = load_error(dir, "d.json", replace(base, "\"hidden_size\": 4096,", ""));
  EXPECT_NE(msg.find("hidden_size: missing"), std::string::npos) << msg;
}

TEST(BadInput, NeitherNativeNorHf) {
  TempDir dir;
  std::string msg = load_error(dir, "x.json", R"({"hello": 1})");
  EXPECT_NE(msg.find("neither a Horizon model"), std::string::npos) << msg;
}

TEST(BadInput, MissingFile) {
  try {
    frontend::load_model("/nonexistent/model.json");
    FAIL() << "expected an error";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/model.json: model file does not exist"), std::string::npos)
        << e.what();
  }
}

TEST(BadInput, IrTextErrorsNameLineAndColumn) {
  std::string good = "module \"m\" {\n  config {}\n  stage s {\n    in %x : f32[B, S, 4]\n    %y : f32[B, S, 4] = "
                     "silu(%x)\n    out %y\n  }\n}\n";
  EXPECT_NO_THROW(ir::verify_module(ir::parse_module(good, "m.hir")));
  auto parse_error = [](const std::string& text) -> std::string {
    try {
      ir::verify_module(ir::parse_module(text, "m.hir"), "m.hir");
    } catch (const UserError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(parse_error(replace(good, "silu(%x)", "swish(%x)")).find("m.hir:5:25: unknown op 'swish'"),
            std::string::npos);
  EXPECT_NE(parse_error(replace(good, "silu(%x)", "silu(%z)")).find("m.hir:5:30: use of undefined %z"),
            std::string::npos);
  EXPECT_NE(parse_error(replace(good, "%y : f32[B, S, 4] =", "%y : f32[B, S, 5] ="))
                .find("is declared f32[B, S, 5] but the op produces f32[B, S, 4]"),
            std::string::npos);
  EXPECT_NE(parse_error(replace(good, "f32[B, S, 4]\n", "q32[B, S, 4]\n")).find("unknown dtype 'q32'"),
            std::string::npos);
}

TEST(BadInput, CliExitCodesAndOneLineErrors) {
  auto ok = testing::run_horizon("compile " + testing::source_path("models/tiny.json") + " --params");
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find("3,295,488 parameters"), std::string::npos) << ok.out;

  auto missing = testing::run_horizon("compile /nonexistent.json");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.err, "error: /nonexistent.json: model file does not exist or cannot be read; check the path\n");

  auto bad_flag = testing::run_horizon("compile " + testing::source_path("models/tiny.json") + " --emitt=ir");
  EXPECT_EQ(bad_flag.exit_code, 1);
  EXPECT_NE(bad_flag.err.find("unknown option --emitt"), std::string::npos) << bad_flag.err;

  auto bad_stage = testing::run_horizon("compile " + testing::source_path("models/tiny.json") + " --emit=nonsense");
  EXPECT_EQ(bad_stage.exit_code, 1);
  EXPECT_NE(bad_stage.err.find("unknown pass 'nonsense'"), std::string::npos) << bad_stage.err;

  auto help = testing::run_horizon("compile --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--emit STAGE"), std::string::npos) << help.out;

  auto unknown = testing::run_horizon("frobnicate");
  EXPECT_EQ(unknown.exit_code, 1);
}

// A run that cannot fit in host memory is refused before anything is
// allocated or written, naming what it needs and what would fit.
TEST(BadInput, TrainRefusesARunLargerThanHostMemoryBeforeAllocating) {
  testing::TempDir dir;
  const std::string model = testing::source_path("models/tiny.json"), data = testing::source_path("README.md");
  auto streamed = testing::run_horizon("train " + model + " --data " + data + " --steps 1 --stream --host-mem 20M" +
                                       " --save " + (dir / "run"));
  EXPECT_EQ(streamed.exit_code, 1);
  for (const char* part :
       {"tiny does not fit: host memory: the step needs", "--host-mem allows 20.00 MiB", "nothing was allocated"})
    EXPECT_NE(streamed.err.find(part), std::string::npos) << streamed.err << "\n  lacks: " << part;
  EXPECT_FALSE(std::filesystem::exists(dir / "run")) << "the refused run created its --save directory";

  // Room for the store but not its gradient slabs: updating as gradients land would fit.
  auto slabs = testing::run_horizon("train " + model + " --data " + data + " --steps 1 --stream --host-mem 30M");
  EXPECT_EQ(slabs.exit_code, 1);
  EXPECT_NE(slabs.err.find("To fit: --clip 0 --early-updates"), std::string::npos) << slabs.err;

  auto unstreamed = testing::run_horizon("train " + model + " --data " + data + " --steps 1 --device cpu" +
                                         " --moments f32 --host-mem 30M");
  EXPECT_EQ(unstreamed.exit_code, 1);
  EXPECT_NE(unstreamed.err.find("--moments bf16"), std::string::npos) << unstreamed.err;

  auto zero = testing::run_horizon("train " + model + " --data " + data + " --steps 1 --host-mem 0");
  EXPECT_EQ(zero.exit_code, 1);
  EXPECT_NE(zero.err.find("--host-mem must be a positive size"), std::string::npos) << zero.err;

  auto fits = testing::run_horizon("train " + model + " --data " + data + " --steps 1 --batch 1 --seq 32" +
                                   " --device cpu --eval-batches 0 --host-mem 1G");
  EXPECT_EQ(fits.exit_code, 0) << fits.err;
  EXPECT_EQ(fits.out.find("(validation"), std::string::npos) << "--eval-batches 0 still reported a validation loss";
  EXPECT_EQ(fits.out.find(" val "), std::string::npos) << fits.out;
}

}  // namespace
}  // namespace horizon
