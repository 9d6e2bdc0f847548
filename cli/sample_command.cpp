// `horizon sample MODEL --weights FILE --prompt TEXT`: generates text from
// trained weights with the byte-level tokenizer.
#include <cstdio>

#include "cli/arguments.h"
#include "cli/checkpoint.h"
#include "cli/commands.h"
#include "data/byte_tokenizer.h"
#include "frontend/model_json.h"
#include "passes/lower.h"
#include "runtime/generate.h"
#include "support/error.h"

namespace horizon::cli {

int run_sample(const Args& args) {
  Arguments a("sample", "horizon sample MODEL --weights FILE|DIR [--prompt TEXT] [options]",
              "Generates text from a trained model (byte-level vocabulary).");
  a.positional("MODEL", "model file the weights were trained with");
  a.option("weights", "FILE", "model.safetensors, or a directory written by horizon train --save");
  a.option("prompt", "TEXT", "text to continue", "");
  a.option("tokens", "N", "tokens to generate", "200");
  a.option("temperature", "T", "sampling temperature; 0 = greedy", "0.8");
  a.option("top-k", "K", "sample among the K most likely tokens; 0 = all", "40");
  a.option("seed", "N", "random seed", "1");
  if (!a.parse(args)) return 0;
  if (!a.has("weights")) throw UserError("horizon sample: missing --weights FILE (a model.safetensors or a --save directory)");

  ir::Module model = frontend::load_model(a.get("MODEL"));
  if (model.config_number("vocab", 0) != 256)
    throw UserError("horizon sample: " + a.get("MODEL") + " has vocab " + std::to_string(static_cast<int64_t>(model.config_number("vocab", 0))) +
                    "; sampling text needs the byte-level vocabulary (256)");
  passes::lower(model);
  runtime::HostStore store(model, codegen::cpu::MomentType::bf16);
  load_weights(a.get("weights"), store);

  runtime::SampleOptions opts;
  opts.tokens = a.get_int("tokens");
  opts.temperature = a.get_double("temperature");
  opts.top_k = a.get_int("top-k");
  opts.seed = static_cast<uint64_t>(a.get_int("seed"));
  opts.max_context = static_cast<int64_t>(model.config_number("max_seq", 1024));
  data::ByteTokenizer tok;
  std::string prompt = a.get("prompt");
  std::vector<int32_t> out = runtime::generate(model, store, tok.encode(prompt), opts);
  std::printf("%s%s\n", prompt.c_str(), tok.decode(out).c_str());
  return 0;
}

}  // namespace horizon::cli
