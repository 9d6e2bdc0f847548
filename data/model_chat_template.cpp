// Reading the template and the special-token strings out of a model folder.
#include "data/model_chat_template.h"

#include <filesystem>

#include "support/error.h"

namespace horizon::data {
namespace fs = std::filesystem;
using frontend::Json;

std::optional<ChatTemplateSource> find_chat_template(const std::string& dir) {
  std::error_code ec;
  const std::string jinja = dir + "/chat_template.jinja";
  if (fs::is_regular_file(jinja, ec)) return read_chat_template_file(jinja);
  const std::string config = dir + "/tokenizer_config.json";
  if (!fs::is_regular_file(config, ec)) return std::nullopt;
  Json j = frontend::parse_json_file(config);
  auto it = j.find("chat_template");
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return ChatTemplateSource{it->get<std::string>(), config + ": chat_template"};
  if (it->is_array()) {
    for (const Json& named : *it)
      if (named.is_object() && named.value("name", "") == "default" && named.contains("template") &&
          named["template"].is_string())
        return ChatTemplateSource{named["template"].get<std::string>(), config + ": chat_template[default]"};
  }
  throw_user_error(config, "chat_template", "is " + frontend::json_type_name(*it) + " without a \"default\" template",
                   "give a string, or a list of {\"name\", \"template\"} with one named default");
}

ChatTemplateSource read_chat_template_file(const std::string& path) {
  return {frontend::read_text_file(path, "chat template"), path};
}

Json special_token_globals(const std::string& dir) {
  Json out = Json::object();
  std::error_code ec;
  const std::string config = dir + "/tokenizer_config.json";
  if (!fs::is_regular_file(config, ec)) return out;
  Json j = frontend::parse_json_file(config);
  for (const char* name : {"bos_token", "eos_token", "pad_token", "unk_token"}) {
    auto it = j.find(name);
    if (it == j.end()) continue;
    if (it->is_string())
      out[name] = *it;
    else if (it->is_object() && it->contains("content") && (*it)["content"].is_string())
      out[name] = (*it)["content"];
  }
  return out;
}

}  // namespace horizon::data
