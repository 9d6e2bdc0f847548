// Export of a Llama-family module to a Hugging Face `config.json`, the inverse
// of frontend/hf_config.h, so a model trained here loads in transformers with
// AutoConfig / AutoModelForCausalLM. The architecture is read off the graph:
// q/k/v biases alone make Qwen2, q/k/v/o biases Llama with attention_bias, a
// sliding window Mistral. Before returning, the config is imported again and
// must rebuild exactly the same graph; anything else is refused, so an export
// never describes a different model than the one trained.
#pragma once

#include <string>

#include "frontend/json_file.h"
#include "ir/module.h"

namespace horizon::frontend {

/// The Hugging Face config for `m`. UserError if `m` is not a Llama-family
/// model (e.g. uses layer_norm or learned positions), misses a config key, or
/// combines features no Hugging Face architecture has.
Json hf_config_from_module(const ir::Module& m);

/// Writes hf_config_from_module(m) to `path` atomically, 2-space indented.
void write_hf_config(const ir::Module& m, const std::string& path);

}  // namespace horizon::frontend
