// The tokenizer of a MODEL argument, so every command that turns text into
// token IDs (sample, gradients --text, train's text data and --sample) uses
// the model's own vocabulary and never feeds byte values into a larger one:
//   a directory (or its config.json) with tokenizer.json -> that tokenizer;
//   a byte-level model (vocab 256) without tokenizer files -> ByteTokenizer;
//   anything else -> a UserError naming the fix.
#pragma once

#include <memory>
#include <string>

#include "data/tokenizer.h"
#include "ir/module.h"

namespace horizon::cli {

/// The tokenizer for `m`, loaded from `model_path`. `purpose` ("--text",
/// "--prompt", "text data") completes the error message.
std::unique_ptr<data::Tokenizer> model_tokenizer(const std::string& model_path, const ir::Module& m,
                                                 const std::string& purpose = "text");

}  // namespace horizon::cli
