// Placeholder until the tokenizer.json implementation lands on this branch.
#include "data/tokenizer.h"
#include "support/error.h"

namespace horizon::data {

std::unique_ptr<Tokenizer> load_hf_tokenizer(const std::string& path) {
  throw UserError(path + ": Hugging Face tokenizers are not implemented in this build");
}

}  // namespace horizon::data
