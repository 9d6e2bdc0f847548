// Loading and running a tokenizer.json (see hf_tokenizer.h).
#include "data/hf_tokenizer.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "data/tokenizer_json.h"
#include "data/utf8_text.h"
#include "support/error.h"

namespace horizon::data {

namespace {

Json parse_json(const std::string& file, const std::string& text) {
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {  // parse_error, or out_of_range for a number too large
    throw_user_error(file, "", std::string("malformed JSON: ") + e.what());
  }
}

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_user_error(path, "", "cannot read the file");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

HfTokenizer::HfTokenizer(const std::string& file, const std::string& json_text, const std::string& config_file,
                         const std::string& config_text) {
  const Json document = parse_json(file, json_text);
  const JsonPlace root(file, document);
  if (!document.is_object()) root.fail("expected a tokenizer.json object");
  if (!root.has("model")) root["model"].fail("missing", "a tokenizer.json has a \"model\" object");
  normalizer_ = parse_normalizer(root["normalizer"]);
  pre_tokenizer_ = parse_pre_tokenizer(root["pre_tokenizer"]);
  model_ = std::make_unique<BpeModel>(root["model"]);
  post_processor_ = parse_post_processor(root["post_processor"]);
  decoder_ = parse_decoder(root["decoder"]);
  added_ = AddedVocabulary(root["added_tokens"], normalizer_.get(), *model_);
  id_limit_ = model_->id_limit();
  for (const AddedToken& t : added_.tokens()) id_limit_ = std::max<int64_t>(id_limit_, int64_t{t.id} + 1);
  if (!config_text.empty()) read_config(config_file, config_text);
}

void HfTokenizer::read_config(const std::string& config_file, const std::string& config_text) {
  const Json document = parse_json(config_file, config_text);
  const JsonPlace root(config_file, document);
  if (!document.is_object()) root.fail("expected a tokenizer_config.json object");
  const auto special = [&](const char* key) -> std::optional<int32_t> {
    const JsonPlace value = root[key];
    if (value.is_null()) return std::nullopt;
    // A plain string, or an AddedToken object {"content": ..., ...}.
    const std::string content = value.json().is_object() ? value["content"].string() : value.string();
    const std::optional<int32_t> id = token_id(content);
    if (!id) value.fail("\"" + content + "\" is not a token of the tokenizer", "name a token of tokenizer.json");
    return id;
  };
  bos_ = special("bos_token");
  eos_ = special("eos_token");
}

std::optional<int32_t> HfTokenizer::token_id(std::string_view token) const {
  if (auto id = added_.id_of(token)) return id;
  return model_->token_id(token);
}

const std::string* HfTokenizer::token(int32_t id) const {
  if (const AddedToken* t = added_.by_id(id)) return &t->content;
  return model_->token(id);
}

void HfTokenizer::encode_normalized_piece(std::string_view piece, bool at_input_start,
                                          std::vector<int32_t>& out) const {
  thread_local PieceList pieces, scratch;
  pieces.assign(piece, at_input_start);
  if (pre_tokenizer_) pre_tokenizer_->pre_tokenize(pieces, scratch);
  model_->encode_words(pieces, out);
}

std::vector<int32_t> HfTokenizer::encode(std::string_view input, bool add_special_tokens) const {
  // Rust strings are valid UTF-8 by construction; other bytes become U+FFFD
  // as Python's errors="replace" would make them.
  std::string repaired;
  std::string_view text = input;
  if (!utf8::is_valid(input)) {
    repaired = utf8::lossy(input);
    text = repaired;
  }
  std::vector<int32_t> ids;
  std::vector<AddedSplit> raw, normalized;
  added_.split(text, false, raw);
  for (const AddedSplit& split : raw) {
    if (split.id) {
      ids.push_back(*split.id);
      continue;
    }
    std::string piece(text.substr(split.start, split.end - split.start));
    if (normalizer_) normalizer_->normalize(piece);
    normalized.clear();
    added_.split(piece, true, normalized);
    for (const AddedSplit& sub : normalized) {
      if (sub.id) {
        ids.push_back(*sub.id);
        continue;
      }
      encode_normalized_piece(std::string_view(piece).substr(sub.start, sub.end - sub.start),
                              split.start == 0 && sub.start == 0, ids);
    }
  }
  if (add_special_tokens && post_processor_) post_processor_->add_special_tokens(ids);
  return ids;
}

std::string HfTokenizer::decode(std::span<const int32_t> ids) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids)
    if (const std::string* t = token(id)) tokens.push_back(*t);  // unknown IDs are skipped, as the library does
  if (!decoder_) {
    std::string joined;
    for (size_t i = 0; i < tokens.size(); ++i) joined += (i ? " " : "") + tokens[i];
    return joined;
  }
  decoder_->decode_chain(tokens);
  std::string text;
  for (const std::string& t : tokens) text += t;
  return text;
}

std::unique_ptr<Tokenizer> load_hf_tokenizer(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::string file = path;
  if (fs::is_directory(path, ec)) {
    file = (fs::path(path) / "tokenizer.json").string();
    if (!fs::exists(file, ec))
      throw_user_error(path, "", "no tokenizer.json in this directory",
                       "copy the model's tokenizer.json (and tokenizer_config.json) here");
  }
  const std::string config_file = (fs::path(file).parent_path() / "tokenizer_config.json").string();
  std::string config_text;
  if (fs::exists(config_file, ec)) config_text = read_whole_file(config_file);
  return std::make_unique<HfTokenizer>(file, read_whole_file(file), config_file, config_text);
}

}  // namespace horizon::data
