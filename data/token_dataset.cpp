// Loading (token file or text, told apart by the magic) and the train/validation cut.
#include "data/token_dataset.h"

#include <cmath>

#include "data/token_file.h"
#include "support/error.h"

namespace horizon::data {

TokenDataset TokenDataset::load(const std::string& path, int64_t vocab, double val_fraction,
                                const Tokenizer* tokenizer) {
  TokenDataset d;
  d.source_ = path;
  d.vocab_ = vocab;
  if (is_token_file(path)) {
    TokenFile f = read_token_file(path);
    d.tokens_ = std::move(f.tokens);
  } else {
    d.tokens_ = read_text_corpus(path, d.summary_, tokenizer);
    if (d.tokens_.empty())
      throw_user_error(path, "",
                       "no text to train on (" + std::to_string(d.summary_.files_read) + " text files, " +
                           std::to_string(d.summary_.skipped_binary) + " binary files skipped)",
                       "point --data at a non-empty text file, a folder of text files or a token file");
  }
  d.check_and_split(val_fraction);
  return d;
}

TokenDataset TokenDataset::from_tokens(std::vector<int32_t> tokens, int64_t vocab, double val_fraction,
                                       std::string source) {
  TokenDataset d;
  d.tokens_ = std::move(tokens);
  d.vocab_ = vocab;
  d.source_ = std::move(source);
  d.check_and_split(val_fraction);
  return d;
}

void TokenDataset::check_and_split(double val_fraction) {
  if (tokens_.empty()) throw_user_error(source_, "", "the data holds no tokens", "use a non-empty data set");
  if (vocab_ < 1) throw_user_error(source_, "vocab", "vocab must be positive, got " + std::to_string(vocab_), "");
  if (!(val_fraction >= 0.0 && val_fraction < 1.0))
    throw_user_error(source_, "validation fraction", "must be in [0, 1), got " + std::to_string(val_fraction),
                     "use e.g. 0.05 to hold out the last 5% of the tokens");
  for (size_t i = 0; i < tokens_.size(); ++i) {
    if (tokens_[i] >= 0 && tokens_[i] < vocab_) continue;
    std::string fix = tokens_[i] < 256 && vocab_ < 256
                          ? "byte-level text needs a model vocab of at least 256"
                          : "use a model whose vocab is larger than " + std::to_string(tokens_[i]) + ", or re-tokenize";
    throw_user_error(
        source_, "token " + std::to_string(i),
        "token " + std::to_string(tokens_[i]) + " is outside the model's vocab [0, " + std::to_string(vocab_) + ")",
        fix);
  }
  const auto n = static_cast<int64_t>(tokens_.size());
  train_size_ = n - static_cast<int64_t>(std::floor(static_cast<double>(n) * val_fraction));
}

TokenSplit TokenDataset::train() const {
  return TokenSplit{"train", source_, std::span<const int32_t>(tokens_.data(), static_cast<size_t>(train_size_))};
}

TokenSplit TokenDataset::validation() const {
  return TokenSplit{"validation", source_, std::span<const int32_t>(tokens_).subspan(static_cast<size_t>(train_size_))};
}

}  // namespace horizon::data
