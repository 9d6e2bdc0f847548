// The tokenizer interface every data path and command goes through: the
// byte-level tokenizer of the demo models and Hugging Face tokenizer.json
// files (data/hf_tokenizer.h) look the same to the rest of the engine, so no
// path can fall back to byte IDs for a model with another vocabulary.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace horizon::data {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  /// Number of IDs the tokenizer can produce (the model's vocab must be at least this).
  virtual int64_t vocab_size() const = 0;

  /// Token IDs of `text`. Special and added tokens written in the text are
  /// matched as Hugging Face's `tokenizers` matches them. With
  /// `add_special_tokens` the post-processor's tokens are added too (e.g.
  /// Llama's BOS), as `tokenizer(text)` does in transformers.
  virtual std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = false) const = 0;

  /// Text of `ids` (special tokens included, as decode(skip_special_tokens=False)).
  virtual std::string decode(std::span<const int32_t> ids) const = 0;

  /// ID of a token written as in the vocabulary ("<|im_end|>", "</s>"), if any.
  virtual std::optional<int32_t> token_id(std::string_view token) const = 0;

  /// Beginning / end of sequence IDs, from tokenizer_config.json where it names them.
  virtual std::optional<int32_t> bos_id() const { return std::nullopt; }
  virtual std::optional<int32_t> eos_id() const { return std::nullopt; }
};

/// The Hugging Face tokenizer at `path`: a tokenizer.json file, or a directory
/// holding one (tokenizer_config.json beside it supplies BOS/EOS and which
/// added tokens are special). UserError naming the file and field otherwise.
std::unique_ptr<Tokenizer> load_hf_tokenizer(const std::string& path);

}  // namespace horizon::data
