// Test doubles for the data pipeline: a byte tokenizer with special tokens
// (matched in text, like Hugging Face added tokens) and an optional merge of
// "\n\n" into one token, and ChatML-style chat renderers — one prefix-stable,
// one that drops earlier turns' <think> blocks the way Qwen3's template does.
#pragma once

#include <string>
#include <vector>

#include "data/chat_spans.h"
#include "data/tokenizer.h"

namespace horizon::testing {

class FakeTokenizer final : public data::Tokenizer {
 public:
  static constexpr int32_t kNewlines = 300;  // "\n\n" when merge_newlines
  explicit FakeTokenizer(bool merge_newlines = false, bool bos = false) : merge_(merge_newlines), bos_(bos) {}
  std::vector<std::string> specials = {"<|im_start|>", "<|im_end|>", "<eos>", "<bos>"};

  int64_t vocab_size() const override { return 512; }
  std::vector<int32_t> encode(std::string_view text, bool add_special = false) const override {
    std::vector<int32_t> out;
    if (add_special && bos_) out.push_back(256 + 3);
    for (size_t i = 0; i < text.size();) {
      bool matched = false;
      for (size_t k = 0; k < specials.size() && !matched; ++k)
        if (text.substr(i).starts_with(specials[k])) {
          out.push_back(256 + static_cast<int32_t>(k));
          i += specials[k].size();
          matched = true;
        }
      if (matched) continue;
      if (merge_ && text.substr(i).starts_with("\n\n")) {
        out.push_back(kNewlines);
        i += 2;
        continue;
      }
      out.push_back(static_cast<unsigned char>(text[i++]));
    }
    return out;
  }
  std::string decode(std::span<const int32_t> ids) const override {
    std::string s;
    for (int32_t t : ids) {
      if (t < 256)
        s.push_back(static_cast<char>(t));
      else if (t == kNewlines)
        s += "\n\n";
      else if (t - 256 < static_cast<int32_t>(specials.size()))
        s += specials[t - 256];
    }
    return s;
  }
  std::optional<int32_t> token_id(std::string_view token) const override {
    for (size_t k = 0; k < specials.size(); ++k)
      if (specials[k] == token) return 256 + static_cast<int32_t>(k);
    return std::nullopt;
  }
  std::optional<int32_t> eos_id() const override { return 256 + 2; }
  std::optional<int32_t> bos_id() const override { return 256 + 3; }

 private:
  bool merge_, bos_;
};

/// ChatML: <|im_start|>ROLE\nCONTENT<|im_end|>\n per message; the generation
/// prompt is <|im_start|>assistant\n. With drop_old_thinking, an assistant
/// content "<think>R</think>A" is rendered as just "A" unless it comes after
/// the last user message (Qwen3's rule), so the template is not prefix-stable.
inline data::ChatRenderer chatml_renderer(bool drop_old_thinking = false) {
  return [drop_old_thinking](const frontend::Json& v) {
    const frontend::Json& messages = v["messages"];
    size_t last_user = 0;
    for (size_t i = 0; i < messages.size(); ++i)
      if (messages[i]["role"] == "user") last_user = i;
    std::string out;
    for (size_t i = 0; i < messages.size(); ++i) {
      std::string content = messages[i]["content"].get<std::string>();
      if (drop_old_thinking && messages[i]["role"] == "assistant" && i < last_user) {
        if (size_t end = content.find("</think>"); end != std::string::npos) content = content.substr(end + 8);
      }
      out += "<|im_start|>" + messages[i]["role"].get<std::string>() + "\n" + content + "<|im_end|>\n";
    }
    if (v.value("add_generation_prompt", false)) out += "<|im_start|>assistant\n";
    return out;
  };
}

}  // namespace horizon::testing
