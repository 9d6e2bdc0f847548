#include "frontend/hf_config.h"

#include "frontend/llama_family.h"
#include "support/error.h"

namespace horizon::frontend {
namespace {

class HfReader {
 public:
  HfReader(const Json& j, const std::string& file) : j_(j), file_(file) {}

  Json read() {
    std::string arch = architecture();
    LlamaFamilyConfig c;
    c.name = j_.contains("_name_or_path") && j_["_name_or_path"].is_string() ? j_["_name_or_path"].get<std::string>()
                                                                               : arch;
    c.hidden = positive("hidden_size");
    c.intermediate = positive("intermediate_size");
    c.layers = positive("num_hidden_layers");
    c.heads = positive("num_attention_heads");
    c.kv_heads = has("num_key_value_heads") ? positive("num_key_value_heads") : c.heads;
    c.vocab = positive("vocab_size");
    c.head_dim = has("head_dim") ? positive("head_dim") : c.hidden / c.heads;
    if (!has("head_dim") && c.hidden % c.heads)
      fail("hidden_size", "hidden_size " + std::to_string(c.hidden) + " is not a multiple of num_attention_heads " + std::to_string(c.heads), "");
    if (c.heads % c.kv_heads)
      fail("num_key_value_heads", "num_attention_heads (" + std::to_string(c.heads) + ") must be a multiple of it, got " + std::to_string(c.kv_heads), "");
    c.max_seq = has("max_position_embeddings") ? positive("max_position_embeddings") : 2048;
    c.rms_eps = number_or("rms_norm_eps", 1e-6);
    c.rope_theta = number_or("rope_theta", 10000.0);
    c.init_std = number_or("initializer_range", 0.02);
    c.tie_embeddings = bool_or("tie_word_embeddings", false);

    std::string act = has("hidden_act") ? string("hidden_act") : "silu";
    if (act != "silu") fail("hidden_act", "activation '" + act + "' is not supported", "only \"silu\" (SwiGLU MLP) is");
    if (arch == "Qwen2ForCausalLM") {
      c.qkv_bias = true;
      if (bool_or("use_sliding_window", false))
        fail("use_sliding_window", "sliding-window attention in Qwen2 is not supported", "set it to false");
    } else {
      if (bool_or("attention_bias", false)) c.qkv_bias = c.o_bias = true;
      if (bool_or("mlp_bias", false)) fail("mlp_bias", "MLP biases are not supported", "set it to false");
    }
    if (arch == "MistralForCausalLM" && has("sliding_window") && !j_["sliding_window"].is_null())
      c.sliding_window = positive("sliding_window");
    if (has("rope_scaling") && !j_["rope_scaling"].is_null()) rope_scaling(c);
    return llama_family_model(c);
  }

 private:
  std::string architecture() {
    if (!has("architectures") || !j_["architectures"].is_array() || j_["architectures"].empty() ||
        !j_["architectures"][0].is_string())
      fail("architectures", "missing or not a list of names", "add e.g. \"architectures\": [\"LlamaForCausalLM\"]");
    std::string arch = j_["architectures"][0].get<std::string>();
    if (arch != "LlamaForCausalLM" && arch != "Qwen2ForCausalLM" && arch != "MistralForCausalLM")
      fail("architectures", "architecture '" + arch + "' is not supported", "supported: " + supported_hf_architectures());
    return arch;
  }

  void rope_scaling(LlamaFamilyConfig& c) {
    const Json& r = j_["rope_scaling"];
    if (!r.is_object()) fail("rope_scaling", "must be an object or null", "");
    std::string type = r.contains("rope_type") ? r["rope_type"].get<std::string>()
                       : r.contains("type")    ? r["type"].get<std::string>()
                                               : "";
    auto num = [&](const char* key) {
      if (!r.contains(key) || !r[key].is_number()) fail(std::string("rope_scaling.") + key, "missing or not a number", "");
      return r[key].get<double>();
    };
    if (type == "llama3") {
      c.rope_scaling_factor = num("factor");
      c.rope_low_freq_factor = num("low_freq_factor");
      c.rope_high_freq_factor = num("high_freq_factor");
      c.rope_original_max_positions = static_cast<int64_t>(num("original_max_position_embeddings"));
    } else if (type == "linear") {
      c.rope_scaling_factor = num("factor");
    } else if (type != "default") {
      fail("rope_scaling.rope_type", "rope scaling '" + type + "' is not supported", "supported: llama3, linear, default");
    }
  }

  bool has(const char* key) const { return j_.contains(key); }
  int64_t positive(const char* key) {
    if (!has(key)) fail(key, "missing", "the field is required for this architecture");
    if (!j_[key].is_number_integer() || j_[key].get<int64_t>() <= 0)
      fail(key, "must be a positive integer, got " + j_[key].dump(), "");
    return j_[key].get<int64_t>();
  }
  double number_or(const char* key, double fallback) {
    if (!has(key) || j_[key].is_null()) return fallback;
    if (!j_[key].is_number()) fail(key, "must be a number, got " + j_[key].dump(), "");
    return j_[key].get<double>();
  }
  bool bool_or(const char* key, bool fallback) {
    if (!has(key) || j_[key].is_null()) return fallback;
    if (!j_[key].is_boolean()) fail(key, "must be true or false, got " + j_[key].dump(), "");
    return j_[key].get<bool>();
  }
  std::string string(const char* key) {
    if (!j_[key].is_string()) fail(key, "must be a string, got " + j_[key].dump(), "");
    return j_[key].get<std::string>();
  }
  [[noreturn]] void fail(const std::string& key, const std::string& msg, const std::string& fix) {
    throw_user_error(file_, key, msg, fix);
  }

  const Json& j_;
  const std::string& file_;
};

}  // namespace

std::string supported_hf_architectures() { return "LlamaForCausalLM, Qwen2ForCausalLM, MistralForCausalLM"; }

Json import_hf_config(const Json& config, const std::string& file) { return HfReader(config, file).read(); }

}  // namespace horizon::frontend
