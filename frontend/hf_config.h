// Import of Hugging Face `config.json` files for the architectures we train:
// LlamaForCausalLM (incl. Llama 3 rope scaling), Qwen2ForCausalLM and
// MistralForCausalLM. Anything the engine does not implement is refused with
// the field and its value rather than silently trained wrong.
#pragma once

#include <string>

#include "frontend/json_file.h"

namespace horizon::frontend {

/// The native model document for a Hugging Face config; `file` names it in errors.
Json import_hf_config(const Json& config, const std::string& file);

/// "LlamaForCausalLM, Qwen2ForCausalLM, MistralForCausalLM".
std::string supported_hf_architectures();

}  // namespace horizon::frontend
