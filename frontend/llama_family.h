// The Llama-family model (Llama 2/3, Qwen2, Qwen3, Mistral) written out as a native
// model document: the block is a list of ops, so the rest of the compiler sees
// exactly what a hand-written model file would give it.
#pragma once

#include <cstdint>
#include <string>

#include "frontend/json_file.h"

namespace horizon::frontend {

struct LlamaFamilyConfig {
  std::string name;
  int64_t vocab = 0, hidden = 0, layers = 0, heads = 0, kv_heads = 0, head_dim = 0, intermediate = 0;
  int64_t max_seq = 2048;
  double rms_eps = 1e-5;
  double rope_theta = 10000.0;
  double init_std = 0.02;
  bool tie_embeddings = false;
  bool qkv_bias = false;       // Qwen2
  bool o_bias = false;         // Llama attention_bias puts a bias on o_proj too
  bool qk_norm = false;        // Qwen3: RMSNorm of each head of q and k before the rotation
  int64_t sliding_window = 0;  // Mistral v0.1; 0 = full causal attention
  // Llama 3 rope scaling ("llama3"), or plain linear scaling when only the factor is set.
  double rope_scaling_factor = 0.0;
  double rope_low_freq_factor = 0.0, rope_high_freq_factor = 0.0;
  int64_t rope_original_max_positions = 0;
};

/// The native model document (format "horizon-model", version 1).
Json llama_family_model(const LlamaFamilyConfig& c);

}  // namespace horizon::frontend
