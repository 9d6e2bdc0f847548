// Module -> Hugging Face config.json, certified by importing the result again.
#include "frontend/hf_export.h"

#include <sstream>

#include "frontend/hf_config.h"
#include "frontend/model_json.h"
#include "ir/document_inputs.h"
#include "ir/lm_head_loss.h"
#include "ir/printer.h"
#include "support/atomic_file.h"
#include "support/error.h"

namespace horizon::frontend {
namespace {

class HfWriter {
 public:
  explicit HfWriter(const ir::Module& m) : m_(m), where_("model '" + m.name + "'") {}

  Json write() {
    refuse_foreign_ops();
    const bool qkv_bias = has_param("block", "q_bias"), o_bias = has_param("block", "o_bias");
    const bool qk_norm = has_param("block", "q_norm");
    const int64_t window = optional_int("sliding_window");
    std::string arch = "LlamaForCausalLM", type = "llama";
    if (qk_norm) {
      if (window > 0) unsupported("sliding-window attention with q/k norms", "Qwen3 is imported without its window");
      if (qkv_bias != o_bias)
        unsupported("q/k/v biases without one on o_proj, or the reverse, with q/k norms",
                    "Qwen3's attention_bias puts biases on all four");
      arch = "Qwen3ForCausalLM", type = "qwen3";
    } else if (window > 0) {
      if (qkv_bias || o_bias)
        unsupported("sliding-window attention with attention biases", "Mistral has no biases, Qwen2 no window here");
      arch = "MistralForCausalLM", type = "mistral";
    } else if (qkv_bias && !o_bias) {
      arch = "Qwen2ForCausalLM", type = "qwen2";
    } else if (o_bias && !qkv_bias) {
      unsupported("a bias on o_proj without q/k/v biases", "Llama's attention_bias puts biases on all four");
    }

    Json j = Json::object();
    j["architectures"] = Json::array({arch});
    j["model_type"] = type;
    if (!m_.name.empty()) j["_name_or_path"] = m_.name;
    j["vocab_size"] = required_int("vocab");
    j["hidden_size"] = required_int("hidden");
    j["intermediate_size"] = required_int("intermediate");
    j["num_hidden_layers"] = required_int("layers");
    j["num_attention_heads"] = required_int("heads");
    j["num_key_value_heads"] = required_int("kv_heads");
    j["head_dim"] = required_int("head_dim");
    j["max_position_embeddings"] = optional_int("max_seq", 2048);
    j["rms_norm_eps"] = m_.config_number("rms_eps", 1e-5);
    j["rope_theta"] = m_.config_number("rope_theta", 10000.0);
    j["rope_scaling"] = rope_scaling();
    j["initializer_range"] = m_.config_number("init_std", 0.02);
    j["tie_word_embeddings"] = m_.config_number("tie_embeddings", 0) != 0;
    j["hidden_act"] = "silu";
    j["attention_dropout"] = 0.0;
    if (type == "llama" || type == "qwen3") j["attention_bias"] = o_bias;
    if (type == "llama") j["mlp_bias"] = false;
    if (type == "mistral") j["sliding_window"] = window;
    if (type == "qwen2" || type == "qwen3") j["use_sliding_window"] = false;
    if (type == "qwen3") {
      j["sliding_window"] = nullptr;
      j["max_window_layers"] = required_int("layers");
    }
    // Byte-level models have no special tokens.
    j["bos_token_id"] = nullptr;
    j["eos_token_id"] = nullptr;
    j["torch_dtype"] = "bfloat16";
    j["use_cache"] = true;
    check_round_trip(j);
    return j;
  }

 private:
  void refuse_foreign_ops() const {
    for (const ir::Stage& s : m_.stages)
      for (const ir::Instr& in : s.instrs)
        if (in.op == ir::Op::layer_norm || in.op == ir::Op::gelu || in.op == ir::Op::add_positions)
          unsupported(std::string("op ") + ir::op_name(in.op) + " in stage " + s.name,
                      "only Llama-family models (RMSNorm, SwiGLU, RoPE) export to a Hugging Face config");
  }

  Json rope_scaling() const {
    const double factor = m_.config_number("rope_scaling_factor", 0.0);
    if (factor <= 0) return nullptr;
    if (m_.config_value("rope_low_freq_factor")) {
      return Json{{"rope_type", "llama3"},
                  {"factor", factor},
                  {"low_freq_factor", m_.config_number("rope_low_freq_factor", 0.0)},
                  {"high_freq_factor", m_.config_number("rope_high_freq_factor", 0.0)},
                  {"original_max_position_embeddings", required_int("rope_original_max_positions")}};
    }
    // "type" rather than "rope_type": transformers before 4.43 know only "type", later ones read both.
    return Json{{"type", "linear"}, {"factor", factor}};
  }

  // The model as written, before the compiler added backward stages,
  // fusion groups, the fused lm head loss, a DPO head and packed-document inputs: what
  // an import reproduces.
  static ir::Module forward_graph(const ir::Module& m) {
    ir::Module f = m;
    f.stages.clear();
    for (const ir::Stage& s : m.stages) {
      if (ir::is_derived_stage(s.name)) continue;
      f.stages.push_back(s);
      for (ir::Instr& in : f.stages.back().instrs) in.attrs.erase("group");
      ir::split_lm_head_loss(f.stages.back());
      ir::remove_preference_loss(f.stages.back());
      ir::remove_document_inputs(f.stages.back());
    }
    return f;
  }

  // The import of `j` must rebuild `m_` exactly: it catches any graph change
  // (an extra op, a renamed parameter, another config key) the checks above miss.
  void check_round_trip(const Json& j) const {
    ir::Module back = module_from_json(import_hf_config(j, where_), where_);
    back.name = m_.name;
    std::string want = ir::print_module(forward_graph(m_)), got = ir::print_module(back);
    if (want == got) return;
    std::istringstream a(want), b(got);
    std::string la, lb;
    while (std::getline(a, la) && std::getline(b, lb) && la == lb) {
    }
    unsupported("the graph is not the standard Llama-family graph (first difference: '" + la + "' vs '" + lb + "')",
                "only models built by `horizon import` or frontend/llama_family export to Hugging Face");
  }

  bool has_param(const std::string& stage, const std::string& name) const {
    const ir::Stage* s = m_.find_stage(stage);
    if (!s) return false;
    for (const ir::Param& p : s->params)
      if (s->values[p.value].name == name) return true;
    return false;
  }

  int64_t required_int(const std::string& key) const {
    const ir::AttrValue* v = m_.config_value(key);
    if (!v) throw_user_error(where_, "config." + key, "missing", "a Llama-family model config needs it for export");
    if (!std::holds_alternative<int64_t>(*v))
      throw_user_error(where_, "config." + key, "must be an integer, got " + ir::attr_str(*v), "");
    return std::get<int64_t>(*v);
  }

  int64_t optional_int(const std::string& key, int64_t fallback = 0) const {
    return m_.config_value(key) ? required_int(key) : fallback;
  }

  [[noreturn]] void unsupported(const std::string& what, const std::string& why) const {
    throw_user_error(where_, "", "export to Hugging Face is not supported for this model: " + what, why);
  }

  const ir::Module& m_;
  std::string where_;
};

}  // namespace

Json hf_config_from_module(const ir::Module& m) { return HfWriter(m).write(); }

void write_hf_config(const ir::Module& m, const std::string& path) {
  std::string text = hf_config_from_module(m).dump(2) + "\n";
  AtomicFileWriter out(path, "Hugging Face config");
  out.write(text);
  out.commit();
}

}  // namespace horizon::frontend
