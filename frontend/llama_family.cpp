#include "frontend/llama_family.h"

namespace horizon::frontend {
namespace {

Json param(const std::string& name, Json shape, const std::string& checkpoint, const char* init = "normal") {
  return Json{{"name", name}, {"shape", std::move(shape)}, {"checkpoint", checkpoint}, {"init", init}};
}

// Embeddings are not weight-decayed (nor norms and biases, which the format
// already exempts as rank-1 tensors).
Json embedding_param(const std::string& name, const std::string& checkpoint) {
  Json p = param(name, {"vocab", "hidden"}, checkpoint);
  p["decay"] = false;
  return p;
}

Json op(const char* name, Json in, const std::string& out) {
  return Json{{"op", name}, {"in", std::move(in)}, {"out", out}};
}

Json rope_op(const std::string& in, const std::string& out, const char* heads, const LlamaFamilyConfig& c) {
  Json j = op("rope", {in}, out);
  j["heads"] = heads;
  j["head_dim"] = "head_dim";
  j["theta"] = "rope_theta";
  if (c.rope_scaling_factor > 0) j["scaling_factor"] = "rope_scaling_factor";
  if (c.rope_low_freq_factor > 0) {
    j["low_freq_factor"] = "rope_low_freq_factor";
    j["high_freq_factor"] = "rope_high_freq_factor";
    j["original_max_positions"] = "rope_original_max_positions";
  }
  return j;
}

Json block(const LlamaFamilyConfig& c) {
  const std::string L = "model.layers.{i}.";
  Json params = Json::array({
      param("input_layernorm", {"hidden"}, L + "input_layernorm.weight", "ones"),
      param("q_proj", {"heads*head_dim", "hidden"}, L + "self_attn.q_proj.weight"),
      param("k_proj", {"kv_heads*head_dim", "hidden"}, L + "self_attn.k_proj.weight"),
      param("v_proj", {"kv_heads*head_dim", "hidden"}, L + "self_attn.v_proj.weight"),
      param("o_proj", {"hidden", "heads*head_dim"}, L + "self_attn.o_proj.weight", "normal_scaled"),
      param("post_attention_layernorm", {"hidden"}, L + "post_attention_layernorm.weight", "ones"),
      param("gate_proj", {"intermediate", "hidden"}, L + "mlp.gate_proj.weight"),
      param("up_proj", {"intermediate", "hidden"}, L + "mlp.up_proj.weight"),
      param("down_proj", {"hidden", "intermediate"}, L + "mlp.down_proj.weight", "normal_scaled"),
  });
  Json ops = Json::array();
  ops.push_back(Json{{"op", "rms_norm"}, {"in", {"x", "input_layernorm"}}, {"out", "h"}, {"eps", "rms_eps"}});
  for (const char* p : {"q", "k", "v"}) {
    std::string w = std::string(p) + "_proj";
    if (c.qkv_bias) {
      params.push_back(param(std::string(p) + "_bias", {std::string(p) == "q" ? "heads*head_dim" : "kv_heads*head_dim"},
                             L + "self_attn." + w + ".bias", "zeros"));
      ops.push_back(op("linear", {"h", w}, std::string(p) + "_nobias"));
      ops.push_back(op("bias_add", {std::string(p) + "_nobias", std::string(p) + "_bias"}, p));
    } else {
      ops.push_back(op("linear", {"h", w}, p));
    }
  }
  std::string q = "q", k = "k";
  if (c.qk_norm) {
    // Qwen3 normalizes each head's head_dim vector on its own (one weight of
    // head_dim entries shared by the heads), after any bias, before the rotation.
    for (const char* p : {"q", "k"}) {
      const std::string w = std::string(p) + "_norm";
      params.push_back(param(w, {"head_dim"}, L + "self_attn." + w + ".weight", "ones"));
      ops.push_back(Json{{"op", "rms_norm"},
                         {"in", {p, w}},
                         {"out", std::string(p) + "_normed"},
                         {"eps", "rms_eps"},
                         {"group_size", "head_dim"}});
    }
    q = "q_normed", k = "k_normed";
  }
  ops.push_back(rope_op(q, "q_rot", "heads", c));
  ops.push_back(rope_op(k, "k_rot", "kv_heads", c));
  Json attn = op("attention", {"q_rot", "k_rot", "v"}, "attn");
  attn["heads"] = "heads";
  attn["kv_heads"] = "kv_heads";
  attn["head_dim"] = "head_dim";
  if (c.sliding_window > 0) attn["window"] = "sliding_window";
  ops.push_back(attn);
  if (c.o_bias) {
    params.push_back(param("o_bias", {"hidden"}, L + "self_attn.o_proj.bias", "zeros"));
    ops.push_back(op("linear", {"attn", "o_proj"}, "attn_out_nobias"));
    ops.push_back(op("bias_add", {"attn_out_nobias", "o_bias"}, "attn_out"));
  } else {
    ops.push_back(op("linear", {"attn", "o_proj"}, "attn_out"));
  }
  ops.push_back(op("add", {"x", "attn_out"}, "x_mid"));
  ops.push_back(
      Json{{"op", "rms_norm"}, {"in", {"x_mid", "post_attention_layernorm"}}, {"out", "h_mlp"}, {"eps", "rms_eps"}});
  ops.push_back(op("linear", {"h_mlp", "gate_proj"}, "gate"));
  ops.push_back(op("linear", {"h_mlp", "up_proj"}, "up"));
  ops.push_back(op("silu", {"gate"}, "gate_act"));
  ops.push_back(op("mul", {"gate_act", "up"}, "mlp_in"));
  ops.push_back(op("linear", {"mlp_in", "down_proj"}, "mlp_out"));
  ops.push_back(op("add", {"x_mid", "mlp_out"}, "y"));
  return Json{{"name", "block"},
              {"repeat", "layers"},
              {"inputs", Json::array({Json{{"name", "x"}, {"type", "f32[B, S, hidden]"}}})},
              {"params", params},
              {"ops", ops},
              {"outputs", Json::array({"y"})}};
}

}  // namespace

Json llama_family_model(const LlamaFamilyConfig& c) {
  Json config = Json::object();
  config["vocab"] = c.vocab;
  config["hidden"] = c.hidden;
  config["layers"] = c.layers;
  config["heads"] = c.heads;
  config["kv_heads"] = c.kv_heads;
  config["head_dim"] = c.head_dim;
  config["intermediate"] = c.intermediate;
  config["max_seq"] = c.max_seq;
  config["rms_eps"] = c.rms_eps;
  config["rope_theta"] = c.rope_theta;
  config["init_std"] = c.init_std;
  config["tie_embeddings"] = c.tie_embeddings;
  if (c.sliding_window > 0) config["sliding_window"] = c.sliding_window;
  if (c.rope_scaling_factor > 0) config["rope_scaling_factor"] = c.rope_scaling_factor;
  if (c.rope_low_freq_factor > 0) {
    config["rope_low_freq_factor"] = c.rope_low_freq_factor;
    config["rope_high_freq_factor"] = c.rope_high_freq_factor;
    config["rope_original_max_positions"] = c.rope_original_max_positions;
  }

  Json embed{{"name", "embed"},
             {"inputs", Json::array({Json{{"name", "tokens"}, {"type", "i32[B, S]"}}})},
             {"params", Json::array({embedding_param("embed_tokens", "model.embed_tokens.weight")})},
             {"ops", Json::array({op("embedding", {"tokens", "embed_tokens"}, "x")})},
             {"outputs", Json::array({"x"})}};
  Json head_params = Json::array({param("norm", {"hidden"}, "model.norm.weight", "ones"),
                                  c.tie_embeddings ? embedding_param("lm_head", "model.embed_tokens.weight")
                                                   : param("lm_head", {"vocab", "hidden"}, "lm_head.weight")});
  Json head{{"name", "head"},
            {"inputs", Json::array({Json{{"name", "x"}, {"type", "f32[B, S, hidden]"}},
                                    Json{{"name", "targets"}, {"type", "i32[B, S]"}}})},
            {"params", head_params},
            {"ops", Json::array({Json{{"op", "rms_norm"}, {"in", {"x", "norm"}}, {"out", "h"}, {"eps", "rms_eps"}},
                                 op("linear", {"h", "lm_head"}, "logits"),
                                 op("cross_entropy", {"logits", "targets"}, "loss")})},
            {"outputs", Json::array({"loss"})}};
  return Json{{"format", "horizon-model"},
              {"version", 1},
              {"name", c.name},
              {"config", config},
              {"stages", Json::array({embed, block(c), head})}};
}

}  // namespace horizon::frontend
