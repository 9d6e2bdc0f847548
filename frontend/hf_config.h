// Import of Hugging Face `config.json` files for the architectures we train:
// LlamaForCausalLM (Llama 1/2/3, incl. Llama 3 and linear rope scaling),
// MistralForCausalLM (incl. its sliding window), Qwen2ForCausalLM (Qwen2 and
// 2.5) and Qwen3ForCausalLM (dense Qwen3, per-head q/k RMSNorm). Anything the
// engine does not implement is refused with the field and its value rather
// than silently trained wrong.
#pragma once

#include <string>

#include "frontend/json_file.h"

namespace horizon::frontend {

/// The native model document for a Hugging Face config; `file` names it in errors.
Json import_hf_config(const Json& config, const std::string& file);

/// "LlamaForCausalLM, Qwen2ForCausalLM, MistralForCausalLM, Qwen3ForCausalLM".
std::string supported_hf_architectures();

}  // namespace horizon::frontend
