// Choosing the tokenizer: the files beside the model first, the byte level
// only where the vocabulary is the byte vocabulary.
#include "cli/model_tokenizer.h"

#include "data/byte_tokenizer.h"
#include "frontend/model_dir.h"
#include "support/error.h"

namespace horizon::cli {

std::unique_ptr<data::Tokenizer> model_tokenizer(const std::string& model_path, const ir::Module& m,
                                                 const std::string& purpose) {
  const int64_t vocab = static_cast<int64_t>(m.config_number("vocab", 0));
  const std::optional<frontend::ModelDir> dir = frontend::model_dir_of(model_path);
  if (dir && !dir->tokenizer_json().empty()) {
    std::unique_ptr<data::Tokenizer> tok = data::load_hf_tokenizer(dir->dir);
    if (tok->vocab_size() > vocab)
      throw_user_error(dir->tokenizer_json(), "",
                       "the tokenizer has " + std::to_string(tok->vocab_size()) +
                           " tokens but the model's vocabulary is " + std::to_string(vocab),
                       "use the tokenizer files that came with this model");
    return tok;
  }
  if (vocab == data::ByteTokenizer::kVocab) return std::make_unique<data::ByteTokenizer>();
  throw_user_error(model_path, "",
                   "has a " + std::to_string(vocab) + "-token vocabulary and no tokenizer.json, so " + purpose +
                       " cannot be tokenized",
                   "put the tokenizer files (tokenizer.json, tokenizer_config.json) in the model directory" +
                       std::string(purpose == "text data" ? ", or pass a token file with --data" : ""));
}

}  // namespace horizon::cli
