// `horizon gradients MODEL --weights W --text TEXT --out FILE`: one forward
// and backward pass on the CPU backend, writing the loss and every
// parameter's gradient (Hugging Face names, f32) to a safetensors file, so
// a step can be compared with another framework tensor by tensor
// (bench/pytorch/compare_gradients.py does this against transformers).
#include <cstdio>

#include "cli/arguments.h"
#include "cli/checkpoint.h"
#include "cli/commands.h"
#include "data/byte_tokenizer.h"
#include "frontend/model_json.h"
#include "frontend/safetensors.h"
#include "passes/lower.h"
#include "runtime/cpu/cpu_model.h"
#include "support/error.h"

namespace horizon::cli {

int run_gradients(const Args& args) {
  Arguments a("gradients", "horizon gradients MODEL --weights FILE|DIR --text TEXT --out FILE [--batch B --seq S]",
              "Computes the loss and every parameter gradient of one batch (byte tokens of TEXT, windows of S+1\n"
              "tokens, targets shifted by one) and writes them to a safetensors file under the checkpoint names.");
  a.positional("MODEL", "model file the weights belong to");
  a.option("weights", "FILE", "model.safetensors, or a directory written by horizon train --save");
  a.option("text", "TEXT", "the text to tokenize (bytes)");
  a.option("out", "FILE", "where to write the gradients (safetensors)");
  a.option("batch", "B", "sequences", "2");
  a.option("seq", "S", "tokens per sequence", "16");
  if (!a.parse(args)) return 0;
  for (const char* required : {"weights", "text", "out"})
    if (!a.has(required)) throw UserError(std::string("horizon gradients: missing --") + required);
  const int64_t B = a.get_int("batch"), S = a.get_int("seq");
  if (B <= 0 || S <= 0) throw UserError("horizon gradients: --batch and --seq must be positive");

  ir::Module model = frontend::load_model(a.get("MODEL"));
  passes::lower(model);
  runtime::HostStore store(model, codegen::cpu::MomentType::bf16);
  load_weights(a.get("weights"), store);

  std::vector<int32_t> text = data::ByteTokenizer().encode(a.get("text"));
  if (static_cast<int64_t>(text.size()) < B * (S + 1))
    throw UserError("horizon gradients: --text has " + std::to_string(text.size()) + " bytes; " +
                    std::to_string(B * (S + 1)) + " are needed for --batch " + std::to_string(B) + " --seq " + std::to_string(S));
  std::vector<int32_t> tokens, targets;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t s = 0; s < S; ++s) {
      tokens.push_back(text[static_cast<size_t>(b * (S + 1) + s)]);
      targets.push_back(text[static_cast<size_t>(b * (S + 1) + s + 1)]);
    }
  std::vector<std::vector<float>> grads;
  for (const auto& t : store.tensors()) grads.emplace_back(static_cast<size_t>(t.elements), 0.0f);
  runtime::CpuModel cpu(model, store);
  const float loss = cpu.forward_backward(tokens.data(), targets.data(), B, S, grads);

  std::vector<frontend::SafetensorsTensorRef> refs;
  for (size_t t = 0; t < grads.size(); ++t)
    refs.push_back({store.tensors()[t].name, ir::DType::f32, store.tensors()[t].shape, grads[t].data()});
  std::string ids;
  for (size_t i = 0; i < tokens.size(); ++i) ids += (i ? "," : "") + std::to_string(tokens[i]);
  std::string tids;
  for (size_t i = 0; i < targets.size(); ++i) tids += (i ? "," : "") + std::to_string(targets[i]);
  char loss_text[32];
  std::snprintf(loss_text, sizeof loss_text, "%.9g", loss);
  frontend::write_safetensors(a.get("out"), refs,
                              {{"loss", loss_text}, {"batch", std::to_string(B)}, {"seq", std::to_string(S)},
                               {"tokens", ids}, {"targets", tids}});
  std::printf("loss %.6f, %zu gradients written to %s\n", loss, grads.size(), a.get("out").c_str());
  return 0;
}

}  // namespace horizon::cli
