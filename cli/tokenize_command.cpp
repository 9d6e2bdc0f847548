// `horizon tokenize MODEL [--text T | stdin] [--jsonl] [--decode]`: a model's
// tokenizer on the command line, to check IDs against transformers or to
// tokenize a corpus. MODEL is a Hugging Face tokenizer (a directory holding
// tokenizer.json, or the file) or a model: one with the byte-level vocabulary
// needs no tokenizer file; any other needs tokenizer.json beside it.
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/arguments.h"
#include "cli/commands.h"
#include "cli/model_tokenizer.h"
#include "data/byte_tokenizer.h"
#include "data/encode_batch.h"
#include "data/hf_tokenizer.h"
#include "frontend/model_json.h"
#include "support/error.h"

namespace horizon::cli {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A tokenizer.json is told from a model file by its top-level "model" object.
bool looks_like_tokenizer_json(const std::string& path) {
  if (fs::path(path).filename() == "tokenizer.json") return true;
  std::ifstream in(path);
  char head[4096] = {};
  in.read(head, sizeof head - 1);
  const std::string text(head);
  return text.find("\"added_tokens\"") != std::string::npos || text.find("\"pre_tokenizer\"") != std::string::npos;
}

// A tokenizer on its own (a folder of tokenizer files, or the tokenizer.json),
// else the tokenizer of the model MODEL names (cli/model_tokenizer.h).
std::unique_ptr<data::Tokenizer> tokenizer_of(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw_user_error(path, "", "no such file or directory");
  const bool folder = fs::is_directory(path, ec);
  if (folder && fs::exists(fs::path(path) / "tokenizer.json", ec) && !fs::exists(fs::path(path) / "config.json", ec))
    return data::load_hf_tokenizer(path);
  if (folder && !fs::exists(fs::path(path) / "config.json", ec))
    throw_user_error(path, "", "no tokenizer.json (and no config.json) in this directory",
                     "copy the model's tokenizer.json and tokenizer_config.json here");
  if (!folder && looks_like_tokenizer_json(path)) return data::load_hf_tokenizer(path);
  return model_tokenizer(path, frontend::load_model(path), "text");
}

void append_ids(std::string& out, const std::vector<int32_t>& ids) {
  out.push_back('[');
  char buffer[16];
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out.push_back(',');
    const auto r = std::to_chars(buffer, buffer + sizeof buffer, ids[i]);
    out.append(buffer, r.ptr);
  }
  out += "]\n";
}

std::string json_string(const std::string& text) {
  return json(text).dump(-1, ' ', false, json::error_handler_t::replace);
}

// A JSON array of token IDs; `where` names the input in errors.
std::vector<int32_t> parse_ids(const std::string& text, const std::string& where) {
  json value;
  try {
    value = json::parse(text);
  } catch (const json::parse_error& e) {
    throw_user_error(where, "", std::string("expected a JSON array of token IDs: ") + e.what());
  }
  if (!value.is_array())
    throw_user_error(where, "", "expected a JSON array of token IDs, found " + std::string(value.type_name()));
  std::vector<int32_t> ids;
  ids.reserve(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    const json& v = value[i];
    if (!v.is_number_integer() || v.get<int64_t>() < INT32_MIN || v.get<int64_t>() > INT32_MAX)
      throw_user_error(where, "element " + std::to_string(i), "expected an integer token ID, found " + v.dump());
    ids.push_back(v.get<int32_t>());
  }
  return ids;
}

std::string parse_text_line(const std::string& line, const std::string& where) {
  json value;
  try {
    value = json::parse(line);
  } catch (const json::parse_error& e) {
    throw_user_error(where, "", std::string("expected a JSON string: ") + e.what(),
                     "with --jsonl every line is one JSON string, e.g. \"Hello\\nworld\"");
  }
  if (!value.is_string())
    throw_user_error(where, "", std::string("expected a JSON string, found ") + value.type_name(),
                     "with --jsonl every line is one JSON string");
  return value.get<std::string>();
}

void write(const std::string& text) { std::fwrite(text.data(), 1, text.size(), stdout); }

int run_jsonl(const data::Tokenizer& tokenizer, bool decode, bool special) {
  // Lines are read and encoded in batches so a large corpus uses every core.
  constexpr size_t kBatchLines = 8192;
  std::string line, out;
  std::vector<std::string> texts;
  int64_t line_number = 0;
  const auto flush = [&] {
    if (texts.empty()) return;
    for (const std::vector<int32_t>& ids : data::encode_batch(tokenizer, texts, special)) append_ids(out, ids);
    texts.clear();
    write(out);
    out.clear();
  };
  while (std::getline(std::cin, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::string where = "stdin:" + std::to_string(line_number);
    if (decode) {
      out += json_string(tokenizer.decode(parse_ids(line, where))) + "\n";
      if (out.size() > (1u << 20)) {
        write(out);
        out.clear();
      }
      continue;
    }
    texts.push_back(parse_text_line(line, where));
    if (texts.size() >= kBatchLines) flush();
  }
  flush();
  write(out);
  return 0;
}

}  // namespace

int run_tokenize(const Args& args) {
  Arguments a("tokenize", "horizon tokenize MODEL [--text T] [--jsonl] [--decode] [--add-special-tokens]",
              "Prints the token IDs of a text as a JSON array, or with --decode the text of an array of IDs.\n"
              "The input is --text or the whole of stdin; with --jsonl every stdin line is one JSON string\n"
              "(or with --decode one JSON array) and one result is printed per line.");
  a.positional("MODEL", "a directory with tokenizer.json, a tokenizer.json, or a model file (byte-level vocab)");
  a.option("text", "T", "the text to tokenize (or IDs to decode); default: stdin");
  a.flag("jsonl", "one JSON string (or ID array with --decode) per stdin line, one result per line");
  a.flag("decode", "turn arrays of token IDs back into text");
  a.flag("add-special-tokens", "add the post-processor's tokens (e.g. Llama's BOS), as transformers' tokenizer(text)");
  if (!a.parse(args)) return 0;
  const bool decode = a.get_flag("decode"), jsonl = a.get_flag("jsonl"), special = a.get_flag("add-special-tokens");
  if (jsonl && a.has("text")) throw UserError("horizon tokenize: --jsonl reads stdin; drop --text or --jsonl");
  const std::unique_ptr<data::Tokenizer> tokenizer = tokenizer_of(a.get("MODEL"));
  if (jsonl) return run_jsonl(*tokenizer, decode, special);

  std::string input;
  if (a.has("text")) {
    input = a.get("text");
  } else {
    input.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  if (decode) {
    write(tokenizer->decode(parse_ids(input, a.has("text") ? "--text" : "stdin")));
    return 0;
  }
  std::string out;
  append_ids(out, tokenizer->encode(input, special));
  write(out);
  return 0;
}

}  // namespace horizon::cli
