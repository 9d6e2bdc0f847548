// Where a Hugging Face model keeps its chat template and the special-token
// strings the template refers to: chat_template.jinja (newer transformers
// save it there), else tokenizer_config.json's "chat_template" — a string, or
// a list of {"name", "template"} from which "default" is taken.
#pragma once

#include <optional>
#include <string>

#include "frontend/json_file.h"

namespace horizon::data {

struct ChatTemplateSource {
  std::string source;  // the Jinja text
  std::string origin;  // "DIR/tokenizer_config.json: chat_template", for errors
};

/// The template in folder `dir`, if it has one. UserError for a
/// tokenizer_config.json whose chat_template is neither a string nor a list with "default".
std::optional<ChatTemplateSource> find_chat_template(const std::string& dir);

/// The template in a file given by the user (--chat-template FILE).
ChatTemplateSource read_chat_template_file(const std::string& path);

/// Template globals from DIR/tokenizer_config.json: bos_token and eos_token as
/// strings (written either as a string or as {"content": ...}); an empty
/// object when there is no such file.
frontend::Json special_token_globals(const std::string& dir);

}  // namespace horizon::data
