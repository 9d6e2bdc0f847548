// The `horizon` command. Exit codes: 0 ok, 1 user error (message on stderr),
// 2 internal error.
#include <malloc.h>

#include <cstdio>
#include <exception>
#include <iostream>
#include <string>

#include "cli/commands.h"
#include "support/error.h"

namespace {

struct Command {
  const char* name;
  int (*run)(const horizon::cli::Args&);
  const char* summary;
};

const Command kCommands[] = {
    {"compile", horizon::cli::run_compile, "compile a model and print its IR (--emit=STAGE) or parameters (--params)"},
    {"verify", horizon::cli::run_verify,
     "parse a schedule text dump and prove it race-free (--model: also simulate it)"},
    {"plan", horizon::cli::run_plan, "predict memory, step time and bottleneck of training a model on a machine"},
    {"import", horizon::cli::run_import, "convert a Hugging Face config.json into a native model file"},
    {"train", horizon::cli::run_train, "train a model (loss, validation, tokens/s, checkpoints)"},
    {"sample", horizon::cli::run_sample, "generate text from trained weights"},
    {"data", horizon::cli::run_data, "show training examples as the model sees them: text, loss mask, packing"},
    {"gradients", horizon::cli::run_gradients,
     "loss and parameter gradients of one batch, to compare with other frameworks"},
    {"tokenize", horizon::cli::run_tokenize, "token IDs of a text with a model's tokenizer, or text of IDs (--decode)"},
};

void usage(std::FILE* to) {
  std::fprintf(to, "usage: horizon COMMAND [options]\n\nHorizon trains large language models on one GPU box, with host "
                   "RAM as the home of the model.\n\ncommands:\n");
  for (const Command& c : kCommands) std::fprintf(to, "  %-10s %s\n", c.name, c.summary);
  std::fprintf(to, "\n'horizon COMMAND --help' describes each command's options.\n");
}

}  // namespace

int main(int argc, char** argv) {
  // Activations are allocated and freed for every stage run; glibc would
  // return each large block to the kernel and fault it in again (a third of
  // the demo's time went to the kernel). Keep freed memory in the heap.
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  if (argc < 2) {
    usage(stderr);
    return 1;
  }
  std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    usage(stdout);
    return 0;
  }
  horizon::cli::Args args(argv + 2, argv + argc);
  for (const Command& c : kCommands) {
    if (name != c.name) continue;
    try {
      return c.run(args);
    } catch (const horizon::UserError& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "internal error: %s\n(please report this with the command you ran)\n", e.what());
      return 2;
    }
  }
  std::fprintf(stderr, "error: unknown command '%s'; run 'horizon --help' for the list\n", name.c_str());
  return 1;
}
