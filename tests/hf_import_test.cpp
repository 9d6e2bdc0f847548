// Import of the Hugging Face architectures issue 11 lists, from their real
// config.json files (models/hf/): each gets the graph its transformers model
// computes, and every config value that would change that math into
// something the engine does not compute is refused by its key.
#include <gtest/gtest.h>

#include "frontend/hf_config.h"
#include "frontend/model_json.h"
#include "ir/printer.h"
#include "support/error.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

using frontend::Json;
using testing::expect_user_error;

Json config(const std::string& dir) {
  return frontend::parse_json_file(testing::source_path("models/hf/" + dir + "/config.json"));
}

ir::Module import(const Json& j, const std::string& label = "config.json") {
  return frontend::module_from_json(frontend::import_hf_config(j, label), label);
}

/// The block's instructions as "op(operands) {attrs}" text, for finding ops.
std::string block_text(const ir::Module& m) {
  const std::string all = ir::print_module(m);
  const size_t at = all.find("stage block ");
  return all.substr(at, all.find("\n  }", at) - at);
}

int64_t config_int(const ir::Module& m, const std::string& key) { return std::get<int64_t>(*m.config_value(key)); }

TEST(HfImport, Llama1HasNoRopeThetaNorKvHeads) {
  const ir::Module m = import(config("llama-7b"));
  EXPECT_EQ(config_int(m, "kv_heads"), 32);
  EXPECT_EQ(config_int(m, "head_dim"), 128);
  EXPECT_EQ(m.config_number("rope_theta", 0), 10000.0);
  EXPECT_EQ(m.config_number("rms_eps", 0), 1e-6);
  EXPECT_EQ(block_text(m).find("bias_add"), std::string::npos);
}

TEST(HfImport, Llama3AndLlama31RopeScaling) {
  const ir::Module l3 = import(config("llama-3-8b"));
  EXPECT_EQ(l3.config_number("rope_theta", 0), 500000.0);
  EXPECT_EQ(l3.config_value("rope_scaling_factor"), nullptr);
  const ir::Module l31 = import(config("llama-3.1-8b"));
  EXPECT_EQ(l31.config_number("rope_scaling_factor", 0), 8.0);
  EXPECT_EQ(config_int(l31, "rope_original_max_positions"), 8192);
  EXPECT_NE(block_text(l31).find("low_freq_factor = 1"), std::string::npos) << block_text(l31);
}

TEST(HfImport, MistralWindowOnlyWhereGiven) {
  const ir::Module v01 = import(config("mistral-7b-v0.1"));
  EXPECT_NE(block_text(v01).find("window = 4096"), std::string::npos);
  const ir::Module v03 = import(config("mistral-7b-v0.3"));  // "sliding_window": null
  EXPECT_EQ(block_text(v03).find("window"), std::string::npos) << block_text(v03);
  EXPECT_EQ(v03.config_number("rope_theta", 0), 1e6);
  EXPECT_EQ(config_int(v03, "vocab"), 32768);
}

TEST(HfImport, Qwen25HasQkvBiasesAndNoWindow) {
  for (const char* dir : {"qwen2.5-0.5b", "qwen2.5-7b"}) {
    const std::string b = block_text(import(config(dir)));
    EXPECT_NE(b.find("bias_add(%q_nobias, %q_bias)"), std::string::npos) << dir;
    EXPECT_EQ(b.find("o_bias"), std::string::npos) << dir;
    EXPECT_EQ(b.find("window"), std::string::npos) << dir;  // sliding_window is set but use_sliding_window is false
  }
}

TEST(HfImport, Qwen3NormsEachHeadOfQAndKBeforeRope) {
  const ir::Module m = import(config("qwen3-0.6b"));
  EXPECT_EQ(config_int(m, "head_dim"), 128);  // 16 heads * 128 = 2048 != hidden 1024
  const std::string b = block_text(m);
  for (const char* want : {"param %q_norm : bf16[128] \"model.layers.{i}.self_attn.q_norm.weight\" init=ones nodecay",
                           "param %k_norm : bf16[128] \"model.layers.{i}.self_attn.k_norm.weight\"",
                           "%q_normed : f32[B, S, 2048] = rms_norm(%q, %q_norm) {eps = 1e-06, group_size = 128}",
                           "%k_normed : f32[B, S, 1024] = rms_norm(%k, %k_norm) {eps = 1e-06, group_size = 128}",
                           "= rope(%q_normed)", "= rope(%k_normed)"})
    EXPECT_NE(b.find(want), std::string::npos) << want << "\n" << b;
  EXPECT_EQ(b.find("bias_add"), std::string::npos);
  EXPECT_LT(b.find("rms_norm(%q,"), b.find("rope(%q_normed)"));
}

TEST(HfImport, Qwen3AttentionBiasPutsBiasesOnAllFourProjections) {
  Json j = config("qwen3-0.6b");
  j["attention_bias"] = true;
  const std::string b = block_text(import(j));
  for (const char* want :
       {"bias_add(%q_nobias, %q_bias)", "bias_add(%k_nobias, %k_bias)", "bias_add(%v_nobias, %v_bias)",
        "bias_add(%attn_out_nobias, %o_bias)", "rms_norm(%k, %k_norm)"})
    EXPECT_NE(b.find(want), std::string::npos) << want;
}

TEST(HfImport, Qwen3HeadDimDefaultsTo128) {
  Json j = config("qwen3-0.6b");
  j.erase("head_dim");
  j["hidden_size"] = 640;  // not 16 * 128: the default is Qwen3Config's 128, not hidden / heads
  EXPECT_EQ(config_int(import(j), "head_dim"), 128);
  Json llama = config("llama-2-7b");
  llama["head_dim"] = 64;  // present: used, even where it differs from hidden / heads
  EXPECT_EQ(config_int(import(llama), "head_dim"), 64);
}

TEST(HfImport, Transformers5RopeParameters) {
  // transformers 5 keeps rope_theta and the scaling in one object.
  Json j = config("llama-3.1-8b");
  Json rope = j["rope_scaling"];
  rope["rope_theta"] = 500000.0;
  j.erase("rope_scaling");
  j.erase("rope_theta");
  j["rope_parameters"] = rope;
  EXPECT_EQ(ir::print_module(import(j)), ir::print_module(import(config("llama-3.1-8b"))));
  Json q = config("qwen3-0.6b");
  q.erase("rope_theta");
  q.erase("rope_scaling");
  q["rope_parameters"] = Json{{"rope_type", "default"}, {"rope_theta", 1000000.0}};
  EXPECT_EQ(ir::print_module(import(q)), ir::print_module(import(config("qwen3-0.6b"))));
}

TEST(HfImport, PretrainingTpComputesTheSameProducts) {
  Json j = config("llama-2-7b");
  j["pretraining_tp"] = 2;
  EXPECT_EQ(ir::print_module(import(j)), ir::print_module(import(config("llama-2-7b"))));
}

struct Refusal {
  const char* dir;
  const char* key;
  Json value;
  std::vector<std::string> message;
};

TEST(HfImport, RefusesWhatChangesTheMathByKey) {
  const std::vector<Refusal> cases = {
      {"qwen3-0.6b", "use_sliding_window", true, {"use_sliding_window", "Qwen3ForCausalLM", "set it to false"}},
      {"qwen2.5-0.5b", "use_sliding_window", true, {"use_sliding_window", "Qwen2ForCausalLM", "set it to false"}},
      {"qwen3-0.6b",
       "layer_types",
       Json::array({"full_attention", "sliding_attention"}),
       {"layer_types[1]", "sliding_attention", "only \"full_attention\""}},
      {"qwen3-0.6b",
       "rope_scaling",
       Json{{"rope_type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 32768}},
       {"rope_scaling.rope_type", "'yarn' is not supported", "remove rope_scaling"}},
      {"llama-2-7b",
       "rope_scaling",
       Json{{"type", "dynamic"}, {"factor", 2.0}},
       {"rope_scaling.rope_type", "'dynamic'"}},
      {"llama-3-8b", "partial_rotary_factor", 0.5, {"partial_rotary_factor", "set it to 1.0"}},
      {"qwen2.5-7b", "attention_dropout", 0.1, {"attention_dropout", "set it to 0.0"}},
      {"llama-3.1-8b", "mlp_bias", true, {"mlp_bias", "set it to false"}},
      {"qwen3-0.6b", "hidden_act", "gelu", {"hidden_act", "'gelu' is not supported"}},
      {"mistral-7b-v0.3", "hidden_act", "relu", {"hidden_act", "'relu'"}},
      {"qwen3-0.6b",
       "architectures",
       Json::array({"Qwen3MoeForCausalLM"}),
       {"Qwen3MoeForCausalLM", "mixture-of-experts", "Qwen3ForCausalLM"}},
      {"llama-2-7b", "hidden_size", 4001, {"hidden_size", "not a multiple of num_attention_heads", "head_dim"}},
  };
  for (const Refusal& r : cases) {
    Json j = config(r.dir);
    j[r.key] = r.value;
    std::vector<std::string> parts = r.message;
    parts.push_back("bad-config.json");
    SCOPED_TRACE(std::string(r.dir) + " " + r.key + " = " + r.value.dump());
    try {
      import(j, "bad-config.json");
      ADD_FAILURE() << "accepted";
    } catch (const UserError& e) {
      for (const std::string& p : parts)
        EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what() << "\n  lacks: " << p;
    }
  }
}

TEST(HfImport, SupportedListNamesQwen3) {
  EXPECT_EQ(frontend::supported_hf_architectures(),
            "LlamaForCausalLM, Qwen2ForCausalLM, MistralForCausalLM, Qwen3ForCausalLM");
  expect_user_error(
      [] {
        import(Json{{ "architectures", { "GemmaForCausalLM" } }});
      },
      {"'GemmaForCausalLM' is not supported", "Qwen3ForCausalLM"});
}

}  // namespace
}  // namespace horizon
