// Export to a Hugging Face config.json: importing the export must rebuild the
// same graph (printed IR compared byte for byte) for every model we ship, and
// models outside the Llama family are refused with a UserError.
#include "frontend/hf_export.h"

#include <gtest/gtest.h>

#include <unistd.h>
#include "tests/test_support.h"

#include <filesystem>

#include "frontend/hf_config.h"
#include "frontend/model_json.h"
#include "ir/printer.h"
#include "passes/lower.h"
#include "support/error.h"

namespace fs = std::filesystem;
using namespace horizon;
using namespace horizon::frontend;

namespace {

using horizon::testing::TempDir;
using horizon::testing::expect_user_error;

std::string source(const std::string& rel) { return horizon::testing::source_path(rel); }

/// print(import(export(m))) must equal print(m).
Json expect_round_trip(const ir::Module& m, const std::string& label) {
  Json hf = hf_config_from_module(m);
  ir::Module back = module_from_json(import_hf_config(hf, label + " (exported)"), label + " (exported)");
  EXPECT_EQ(ir::print_module(back), ir::print_module(m)) << label;
  return hf;
}

}  // namespace

TEST(HfExport, NativeModelsRoundTrip) {
  Json tiny = expect_round_trip(load_model(source("models/tiny.json")), "tiny");
  EXPECT_EQ(tiny["architectures"][0], "LlamaForCausalLM");
  EXPECT_EQ(tiny["model_type"], "llama");
  EXPECT_EQ(tiny["vocab_size"], 256);
  EXPECT_EQ(tiny["attention_bias"], false);
  EXPECT_EQ(tiny["hidden_act"], "silu");
  EXPECT_EQ(tiny["torch_dtype"], "bfloat16");
  EXPECT_TRUE(tiny["rope_scaling"].is_null());

  Json qwen = expect_round_trip(load_model(source("models/tiny-qwen.json")), "tiny-qwen");
  EXPECT_EQ(qwen["architectures"][0], "Qwen2ForCausalLM");
  EXPECT_EQ(qwen["model_type"], "qwen2");
  EXPECT_EQ(qwen["num_key_value_heads"], 2);
  EXPECT_EQ(qwen["tie_word_embeddings"], true);
  EXPECT_EQ(qwen["rms_norm_eps"], 1e-6);

  Json qwen3 = expect_round_trip(load_model(source("models/tiny-qwen3.json")), "tiny-qwen3");
  EXPECT_EQ(qwen3["architectures"][0], "Qwen3ForCausalLM");
  EXPECT_EQ(qwen3["model_type"], "qwen3");
  EXPECT_EQ(qwen3["head_dim"], 64);
  EXPECT_EQ(qwen3["hidden_size"], 128);
  EXPECT_EQ(qwen3["attention_bias"], false);
  EXPECT_EQ(qwen3["use_sliding_window"], false);
  EXPECT_EQ(qwen3["tie_word_embeddings"], true);
}

TEST(HfExport, Qwen3WithAttentionBiasStaysQwen3) {
  Json cfg = parse_json_file(source("models/hf/qwen3-0.6b/config.json"));
  cfg["attention_bias"] = true;
  Json hf = expect_round_trip(module_from_json(import_hf_config(cfg, "biased"), "biased"), "biased");
  EXPECT_EQ(hf["architectures"][0], "Qwen3ForCausalLM");
  EXPECT_EQ(hf["attention_bias"], true);
}

TEST(HfExport, RefusesQkNormsWithoutTheirGroup) {
  // A q_norm spanning all heads at once is not Qwen3's per-head norm: the
  // re-import differs, so the export refuses rather than write a Qwen3 config.
  Json doc = parse_json_file(source("models/tiny-qwen3.json"));
  for (Json& p : doc["stages"][1]["params"])
    if (p["name"] == "q_norm") p["shape"] = {"heads*head_dim"};
  for (Json& op : doc["stages"][1]["ops"])
    if (op["out"] == "q_normed") op.erase("group_size");
  expect_user_error([&] { hf_config_from_module(module_from_json(doc, "whole-row")); },
                    {"not supported", "not the standard Llama-family graph", "q_norm"});
}

TEST(HfExport, HuggingFaceConfigsRoundTrip) {
  int seen = 0;
  for (const auto& entry : fs::directory_iterator(source("models/hf"))) {
    const std::string path = (entry.path() / "config.json").string();
    Json original = parse_json_file(path);
    Json hf = expect_round_trip(load_model(path), path);
    ++seen;
    if (original["model_type"] == "mistral" && original["sliding_window"].is_null()) {
      // Mistral without its window computes exactly what Llama does; the graph
      // keeps no trace of the name, so it exports as Llama.
      EXPECT_EQ(hf["model_type"], "llama") << path;
    } else {
      EXPECT_EQ(hf["architectures"], original["architectures"]) << path;
      EXPECT_EQ(hf["model_type"], original["model_type"]) << path;
    }
    for (const char* key :
         {"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
          "vocab_size", "max_position_embeddings", "rms_norm_eps", "tie_word_embeddings"})
      if (original.contains(key)) {
        EXPECT_EQ(hf[key], original[key]) << path << ": " << key;
      }
    if (original.contains("rope_theta")) {
      EXPECT_EQ(hf["rope_theta"], original["rope_theta"]) << path;
    }
    if (original.contains("head_dim")) {
      EXPECT_EQ(hf["head_dim"], original["head_dim"]) << path;
    }
    if (original["model_type"] == "mistral" && !original["sliding_window"].is_null()) {
      EXPECT_EQ(hf["sliding_window"], original["sliding_window"]) << path;
    }
    if (original.contains("rope_scaling") && !original["rope_scaling"].is_null()) {
      for (const auto& [k, v] : original["rope_scaling"].items())
        EXPECT_EQ(hf["rope_scaling"][k], v) << path << ": " << k;
    }
  }
  EXPECT_GE(seen, 9);
}

TEST(HfExport, LlamaWithAttentionBiasStaysLlama) {
  Json cfg = parse_json_file(source("models/hf/llama-2-7b/config.json"));
  cfg["attention_bias"] = true;
  Json hf = expect_round_trip(module_from_json(import_hf_config(cfg, "biased"), "biased"), "biased");
  EXPECT_EQ(hf["architectures"][0], "LlamaForCausalLM");
  EXPECT_EQ(hf["attention_bias"], true);
}

TEST(HfExport, WrittenFileLoadsAsTheSameModel) {
  fs::path dir = fs::temp_directory_path() / ("horizon-HfExport-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "config.json").string();
  ir::Module m = load_model(source("models/tiny-qwen.json"));
  write_hf_config(m, path);
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  EXPECT_EQ(ir::print_module(load_model(path)), ir::print_module(m));  // load_model detects the HF config
  fs::remove_all(dir);
}

TEST(HfExport, RefusesLayerNorm) {
  Json doc = parse_json_file(source("models/tiny.json"));
  Json& head = doc["stages"][2];
  head["params"].push_back(
      Json{{"name", "norm_bias"}, {"shape", {"hidden"}}, {"checkpoint", "model.norm.bias"}, {"init", "zeros"}});
  head["ops"][0] = Json{{"op", "layer_norm"}, {"in", {"x", "norm", "norm_bias"}}, {"out", "h"}, {"eps", "rms_eps"}};
  ir::Module m = module_from_json(doc, "gpt-like");
  expect_user_error([&] { hf_config_from_module(m); }, {"tiny", "not supported", "layer_norm"});
}

TEST(HfExport, RefusesGraphThatDiffersFromLlama) {
  Json doc = parse_json_file(source("models/tiny.json"));
  doc["stages"][2]["params"][0]["checkpoint"] = "final_norm.weight";  // an HF Llama would not find this weight
  expect_user_error([&] { hf_config_from_module(module_from_json(doc, "renamed")); },
                    {"not supported", "not the standard Llama-family graph", "final_norm.weight"});
  Json no_vocab = parse_json_file(source("models/tiny.json"));
  no_vocab["config"]["dropout"] = 0.1;  // a hyperparameter Hugging Face would drop
  expect_user_error([&] { hf_config_from_module(module_from_json(no_vocab, "extra")); }, {"not supported", "dropout"});
}

// A model lowered for packed documents exports the config of the model as
// written: the positions/segments inputs are the compiler's, not the model's.
TEST(HfExport, PackedDocumentInputsDoNotChangeTheExport) {
  for (const char* name : {"tiny.json", "tiny-qwen3.json"}) {
    ir::Module plain = frontend::load_model(horizon::testing::source_path(std::string("models/") + name));
    ir::Module packed = plain;
    passes::lower(plain);
    passes::LowerOptions options;
    options.packed_documents = true;
    passes::lower(packed, options);
    ASSERT_GE(packed.find_stage("block")->find_value("positions"), 0) << name;
    EXPECT_EQ(frontend::hf_config_from_module(packed).dump(), frontend::hf_config_from_module(plain).dump()) << name;
  }
}
