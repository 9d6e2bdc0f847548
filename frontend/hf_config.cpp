// Reads a Hugging Face config.json the way transformers' modeling code reads
// it, per architecture: only the keys that architecture's model reads are
// looked at, and every value of them that would change the math into
// something the engine does not compute is refused by name.
#include "frontend/hf_config.h"

#include "frontend/llama_family.h"
#include "support/error.h"

namespace horizon::frontend {
namespace {

constexpr const char* kArchitectures[] = {"LlamaForCausalLM", "Qwen2ForCausalLM", "MistralForCausalLM",
                                          "Qwen3ForCausalLM"};

class HfReader {
 public:
  HfReader(const Json& j, const std::string& file) : j_(j), file_(file) {}

  Json read() {
    const std::string arch = architecture();
    LlamaFamilyConfig c;
    c.name =
        j_.contains("_name_or_path") && j_["_name_or_path"].is_string() ? j_["_name_or_path"].get<std::string>() : arch;
    c.hidden = positive("hidden_size");
    c.intermediate = positive("intermediate_size");
    c.layers = positive("num_hidden_layers");
    c.heads = positive("num_attention_heads");
    c.kv_heads =
        has("num_key_value_heads") && !j_["num_key_value_heads"].is_null() ? positive("num_key_value_heads") : c.heads;
    c.vocab = positive("vocab_size");
    c.head_dim = head_dim(arch, c);
    if (c.heads % c.kv_heads)
      fail("num_key_value_heads",
           "num_attention_heads (" + std::to_string(c.heads) + ") must be a multiple of it, got " +
               std::to_string(c.kv_heads),
           "");
    c.max_seq = has("max_position_embeddings") ? positive("max_position_embeddings") : 2048;
    c.rms_eps = number_or("rms_norm_eps", 1e-6);
    c.init_std = number_or("initializer_range", 0.02);
    c.tie_embeddings = bool_or("tie_word_embeddings", false);

    std::string act = has("hidden_act") ? string("hidden_act") : "silu";
    if (act != "silu") fail("hidden_act", "activation '" + act + "' is not supported", "only \"silu\" (SwiGLU MLP) is");
    // Dropout inside attention would make training differ from the
    // computation here; every released checkpoint of these families has 0.
    if (number_or("attention_dropout", 0.0) != 0.0)
      fail("attention_dropout", "attention dropout is not supported, got " + j_["attention_dropout"].dump(),
           "set it to 0.0");
    // pretraining_tp > 1 makes old Llama code split each projection into that
    // many slices and concatenate or sum them: the same product, so it is read
    // as 1.
    if (arch == "LlamaForCausalLM") {
      if (bool_or("attention_bias", false)) c.qkv_bias = c.o_bias = true;
      if (bool_or("mlp_bias", false)) fail("mlp_bias", "MLP biases are not supported", "set it to false");
    } else if (arch == "MistralForCausalLM") {
      if (has("sliding_window") && !j_["sliding_window"].is_null()) c.sliding_window = positive("sliding_window");
    } else if (arch == "Qwen2ForCausalLM") {
      c.qkv_bias = true;  // Qwen2 always has q/k/v biases and none on o_proj
      refuse_sliding_layers();
    } else {  // Qwen3ForCausalLM
      if (bool_or("attention_bias", false)) c.qkv_bias = c.o_bias = true;
      c.qk_norm = true;
      refuse_sliding_layers();
    }
    rope(c);
    return llama_family_model(c);
  }

 private:
  std::string architecture() {
    if (!has("architectures") || !j_["architectures"].is_array() || j_["architectures"].empty() ||
        !j_["architectures"][0].is_string())
      fail("architectures", "missing or not a list of names", "add e.g. \"architectures\": [\"LlamaForCausalLM\"]");
    std::string arch = j_["architectures"][0].get<std::string>();
    for (const char* known : kArchitectures)
      if (arch == known) return arch;
    const bool moe = arch.find("Moe") != std::string::npos || arch.find("Mixtral") != std::string::npos;
    fail("architectures",
         "architecture '" + arch + "' is not supported" + (moe ? " (mixture-of-experts models are not)" : ""),
         "supported: " + supported_hf_architectures());
  }

  // Qwen2 and Qwen3 name the attention of every layer in `layer_types`, or
  // derive it: sliding from layer max_window_layers on when use_sliding_window.
  void refuse_sliding_layers() {
    if (bool_or("use_sliding_window", false))
      fail("use_sliding_window",
           "sliding-window attention in " + j_["architectures"][0].get<std::string>() + " is not supported",
           "set it to false");
    if (!has("layer_types") || j_["layer_types"].is_null()) return;
    const Json& types = j_["layer_types"];
    if (!types.is_array()) fail("layer_types", "must be a list of attention types or null", "");
    for (size_t i = 0; i < types.size(); ++i)
      if (types[i] != "full_attention")
        fail("layer_types[" + std::to_string(i) + "]", "attention type " + types[i].dump() + " is not supported",
             "only \"full_attention\" is");
  }

  int64_t head_dim(const std::string& arch, const LlamaFamilyConfig& c) {
    if (has("head_dim") && !j_["head_dim"].is_null()) return positive("head_dim");
    // Qwen3Config's default head_dim is 128 whatever the width; the others
    // split the hidden size evenly.
    if (arch == "Qwen3ForCausalLM") return 128;
    if (c.hidden % c.heads)
      fail("hidden_size",
           "hidden_size " + std::to_string(c.hidden) + " is not a multiple of num_attention_heads " +
               std::to_string(c.heads),
           "give head_dim explicitly");
    return c.hidden / c.heads;
  }

  // Rotary settings: transformers 5 writes `rope_parameters` (rope_theta and
  // the scaling in one object); earlier versions `rope_theta` and `rope_scaling`.
  void rope(LlamaFamilyConfig& c) {
    const bool v5 = has("rope_parameters") && !j_["rope_parameters"].is_null();
    const char* key = v5 ? "rope_parameters" : "rope_scaling";
    c.rope_theta = number_or("rope_theta", 10000.0);
    if (number_or("partial_rotary_factor", 1.0) != 1.0)
      fail("partial_rotary_factor", "partial rotary embeddings are not supported", "set it to 1.0 or remove it");
    if (!has(key) || j_[key].is_null()) return;
    const Json& r = j_[key];
    if (!r.is_object()) fail(key, "must be an object or null", "");
    auto num = [&](const char* field) {
      if (!r.contains(field) || !r[field].is_number())
        fail(std::string(key) + "." + field, "missing or not a number", "");
      return r[field].get<double>();
    };
    if (v5 && r.contains("rope_theta")) c.rope_theta = num("rope_theta");
    if (r.contains("partial_rotary_factor") && num("partial_rotary_factor") != 1.0)
      fail(std::string(key) + ".partial_rotary_factor", "partial rotary embeddings are not supported", "set it to 1.0");
    const Json& t = r.contains("rope_type") ? r["rope_type"] : r.contains("type") ? r["type"] : Json("default");
    if (!t.is_string()) fail(std::string(key) + ".rope_type", "must be a string, got " + t.dump(), "");
    const std::string type = t.get<std::string>();
    if (type == "llama3") {
      c.rope_scaling_factor = num("factor");
      c.rope_low_freq_factor = num("low_freq_factor");
      c.rope_high_freq_factor = num("high_freq_factor");
      c.rope_original_max_positions = static_cast<int64_t>(num("original_max_position_embeddings"));
    } else if (type == "linear") {
      c.rope_scaling_factor = num("factor");
    } else if (type != "default") {
      fail(
          std::string(key) + ".rope_type", "rope scaling '" + type + "' is not supported",
          std::string("supported: llama3, linear, default; for fine-tuning within the original context remove ") + key);
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

std::string supported_hf_architectures() {
  std::string s;
  for (const char* a : kArchitectures) s += (s.empty() ? "" : ", ") + std::string(a);
  return s;
}

Json import_hf_config(const Json& config, const std::string& file) { return HfReader(config, file).read(); }

}  // namespace horizon::frontend
