// A Hugging Face tokenizer.json, loaded into the components of the
// `tokenizers` library's pipeline and giving the same IDs:
//   added tokens (raw) -> normalizer -> added tokens (normalized)
//   -> pre-tokenizer -> BPE model -> post-processor (add_special_tokens)
// and decode through its decoder. What a file uses beyond that is refused at
// load time with the JSON path of the component.
#pragma once

#include <memory>
#include <string>

#include "data/added_tokens.h"
#include "data/bpe_model.h"
#include "data/normalizers.h"
#include "data/post_processor.h"
#include "data/pre_tokenizers.h"
#include "data/tokenizer.h"
#include "data/tokenizer_decoders.h"

namespace horizon::data {

class HfTokenizer final : public Tokenizer {
 public:
  /// Parses tokenizer.json text; `file` names it in errors. `config_text`
  /// (tokenizer_config.json, may be empty) supplies bos/eos.
  HfTokenizer(const std::string& file, const std::string& json_text, const std::string& config_file = "",
              const std::string& config_text = "");

  int64_t vocab_size() const override { return id_limit_; }
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = false) const override;
  std::string decode(std::span<const int32_t> ids) const override;
  std::optional<int32_t> token_id(std::string_view token) const override;
  std::optional<int32_t> bos_id() const override { return bos_; }
  std::optional<int32_t> eos_id() const override { return eos_; }

  /// The token string of `id` (added tokens first), or nullptr.
  const std::string* token(int32_t id) const;

 private:
  void encode_normalized_piece(std::string_view piece, bool at_input_start, std::vector<int32_t>& out) const;
  void read_config(const std::string& config_file, const std::string& config_text);

  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<BpeModel> model_;
  std::unique_ptr<PostProcessor> post_processor_;
  std::unique_ptr<Decoder> decoder_;
  AddedVocabulary added_;
  int64_t id_limit_ = 0;
  std::optional<int32_t> bos_, eos_;
};

}  // namespace horizon::data
