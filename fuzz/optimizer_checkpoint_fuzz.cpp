// optimizer.safetensors resumed into a small model's host store
// (cli/checkpoint.cpp resume_checkpoint): every dtype, shape and size must
// be checked before a byte is copied. A manifest that matches the input is
// written first, so the fuzzer reaches the tensor checks.
#include <memory>

#include "cli/checkpoint.h"
#include "cli/checkpoint_manifest.h"
#include "frontend/json_file.h"
#include "frontend/model_json.h"
#include "fuzz/fuzz_support.h"
#include "support/error.h"

namespace {

// Two layers of width 8: small enough that a store costs nothing.
constexpr const char* kModel = R"({"format": "horizon-model", "version": 1, "name": "fuzz",
 "config": {"vocab": 16, "hidden": 8},
 "stages": [
  {"name": "embed", "inputs": [{"name": "tokens", "type": "i32[B, S]"}],
   "params": [{"name": "e", "shape": ["vocab", "hidden"], "checkpoint": "model.embed_tokens.weight"}],
   "ops": [{"op": "embedding", "in": ["tokens", "e"], "out": "x"}], "outputs": ["x"]},
  {"name": "head", "inputs": [{"name": "x", "type": "f32[B, S, hidden]"}, {"name": "targets", "type": "i32[B, S]"}],
   "params": [{"name": "w", "shape": ["vocab", "hidden"], "checkpoint": "lm_head.weight"}],
   "ops": [{"op": "linear", "in": ["x", "w"], "out": "logits"},
           {"op": "cross_entropy", "in": ["logits", "targets"], "out": "loss"}], "outputs": ["loss"]}]})";

struct Model {
  horizon::ir::Module module;
  std::unique_ptr<horizon::runtime::HostStore> store;
  Model()
      : module(horizon::frontend::module_from_json(horizon::frontend::parse_json_text(kModel, "fuzz-model.json"),
                                                   "fuzz-model.json")),
        store(std::make_unique<horizon::runtime::HostStore>(module, horizon::codegen::cpu::MomentType::bf16)) {}
};

}  // namespace

int horizon_fuzz_optimizer_checkpoint(const uint8_t* data, size_t size) {
  static Model model;
  try {
    horizon::fuzz::write_input("optimizer.safetensors", data, size);
    horizon::cli::write_manifest(horizon::fuzz::scratch_dir(), 0, {"optimizer.safetensors"});
    horizon::cli::resume_checkpoint(horizon::fuzz::scratch_dir(), *model.store);
  } catch (const horizon::UserError&) {
  }
  return 0;
}
