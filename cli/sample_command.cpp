// `horizon sample MODEL [--weights W] --prompt TEXT`: generates text from
// trained weights, tokenized and decoded with the model's tokenizer
// (cli/model_tokenizer.h). A model directory brings its own weights.
#include <algorithm>
#include <cstdio>

#include "cli/arguments.h"
#include "cli/commands.h"
#include "cli/model_tokenizer.h"
#include "cli/weight_loader.h"
#include "frontend/model_dir.h"
#include "frontend/model_json.h"
#include "passes/lower.h"
#include "runtime/generate.h"
#include "support/error.h"

namespace horizon::cli {

int run_sample(const Args& args) {
  Arguments a("sample", "horizon sample MODEL [--weights DIR|FILE] [--prompt TEXT] [options]",
              "Generates text from a trained model with its tokenizer (tokenizer.json in the model directory, or\n"
              "the byte-level vocabulary of the demo models).");
  a.positional("MODEL",
               "a Hugging Face model directory (config, weights, tokenizer), its config.json, or a model file");
  a.option("weights", "PATH",
           "weights: a directory written by horizon train --save, a model.safetensors.index.json or a .safetensors\n"
           "file (default: the weights in the MODEL directory)");
  a.option("prompt", "TEXT", "text to continue", "");
  a.option("tokens", "N", "tokens to generate", "200");
  a.option("temperature", "T", "sampling temperature; 0 = greedy", "0.8");
  a.option("top-k", "K", "sample among the K most likely tokens; 0 = all", "40");
  a.option("seed", "N", "random seed", "1");
  if (!a.parse(args)) return 0;

  const std::string model_path = a.get("MODEL");
  std::string weights = a.get("weights");
  if (weights.empty()) {
    const auto dir = frontend::model_dir_of(model_path);
    if (!dir || !dir->has_weights())
      throw UserError("horizon sample: " + model_path +
                      " has no weights beside it; pass --weights DIR|FILE (a --save directory or a .safetensors file)");
    weights = dir->dir;
  }
  ir::Module model = frontend::load_model(model_path);
  std::unique_ptr<data::Tokenizer> tok = model_tokenizer(model_path, model, "--prompt");
  passes::lower(model);
  runtime::HostStore store(model, codegen::cpu::MomentType::bf16);
  load_model_weights(weights, store);

  runtime::SampleOptions opts;
  opts.tokens = a.get_int("tokens");
  opts.temperature = a.get_double("temperature");
  opts.top_k = a.get_int("top-k");
  opts.seed = static_cast<uint64_t>(a.get_int("seed"));
  opts.max_context = static_cast<int64_t>(model.config_number("max_seq", 1024));
  const std::string prompt = a.get("prompt");
  std::vector<int32_t> ids = tok->encode(prompt, /*add_special_tokens=*/true);
  if (ids.empty() && tok->bos_id()) ids.push_back(*tok->bos_id());
  std::vector<int32_t> out = runtime::generate(model, store, ids, opts);
  // generate() does not know the tokenizer's end of sequence; the text ends there.
  if (auto eos = tok->eos_id())
    if (auto it = std::find(out.begin(), out.end(), *eos); it != out.end()) out.erase(it, out.end());
  std::printf("%s%s\n", prompt.c_str(), tok->decode(out).c_str());
  return 0;
}

}  // namespace horizon::cli
