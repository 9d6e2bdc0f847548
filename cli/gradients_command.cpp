// `horizon gradients MODEL --weights W --text TEXT --out FILE`: one forward
// and backward pass, writing the loss and every parameter's gradient
// (Hugging Face names, f32) to a safetensors file, so a step can be compared
// with another framework tensor by tensor (bench/pytorch/compare_gradients.py
// does this against transformers). On the CPU it is the unstreamed reference
// step; with --device cuda it is the compiled streamed step on the GPU, its
// gradients captured where the CPU optimizer would have consumed them.
// With --data instead of --text the batch is the first one `horizon train`
// would take from that data (chat templates, loss masks, packed documents),
// and the file also holds its positions and segments, so a reference can
// restart positions and mask attention per document as we do.
#include <cstdio>
#include <map>
#include <optional>
#include <stdexcept>

#include "cli/arguments.h"
#include "cli/commands.h"
#include "cli/device_option.h"
#include "cli/grad_offload_option.h"
#include "cli/model_tokenizer.h"
#include "cli/train_data.h"
#include "cli/weight_loader.h"
#include "data/preference_sampler.h"
#include "frontend/model_dir.h"
#include "frontend/model_json.h"
#include "frontend/safetensors.h"
#include "passes/lower.h"
#include "runtime/cpu/cpu_model.h"
#include "runtime/preference_metrics.h"
#include "support/error.h"
#ifdef HORIZON_HAVE_CUDA
#include "passes/schedule_pipeline.h"
#include "runtime/cuda/cuda_schedule_executor.h"
#endif

namespace horizon::cli {
namespace {

struct Gradients {
  float loss = 0;
  std::vector<std::vector<float>> grads;  // per stored tensor
  std::string device;                     // for the file's metadata
  std::vector<float> logps;               // DPO: each row's policy log-probability
};

const int32_t* or_null(const std::vector<int32_t>& v) { return v.empty() ? nullptr : v.data(); }

Gradients on_cpu(const ir::Module& model, runtime::HostStore& store, const data::Batch& batch) {
  Gradients g{0, {}, "cpu", {}};
  for (const auto& t : store.tensors()) g.grads.emplace_back(static_cast<size_t>(t.elements), 0.0f);
  runtime::CpuModel cpu(model, store);
  runtime::BatchView view{batch.tokens.data(),     batch.targets.data(), or_null(batch.positions),
                          or_null(batch.segments), batch.batch,          batch.seq};
  g.loss = cpu.forward_backward(view, g.grads);
  return g;
}

#ifdef HORIZON_HAVE_CUDA
// One micro-batch, no clipping: the schedule's updates come right after each
// region's gradient lands, and the sink takes them instead of AdamW.
Gradients on_cuda(const ir::Module& model, runtime::HostStore& store, const data::Batch& batch, const float* reference,
                  bool bf16_gradients) {
  passes::StreamingOptions opts;
  opts.batch = batch.batch;
  opts.seq = batch.seq;
  opts.clip = false;
  opts.bytes_per_param = store.bytes_per_parameter();
  opts.bf16_gradients = bf16_gradients;
  const ir::Schedule schedule = passes::lower_to_schedule(model, opts);
  runtime::cuda::CudaScheduleExecutor exec(schedule, model, store, runtime::AdamWConfig{}, 0.0f);
  runtime::GradientCapture capture(store.tensors().size());
  exec.set_gradient_sink(&capture);
  const float loss = exec.step(batch.tokens.data(), batch.targets.data(), or_null(batch.positions),
                               or_null(batch.segments), reference);
  exec.finish_updates();
  Gradients g{loss, std::move(capture.gradients), "cuda: " + exec.device_description(), exec.last_logprobs()};
  for (size_t t = 0; t < g.grads.size(); ++t)
    if (g.grads[t].size() != static_cast<size_t>(store.tensors()[t].elements))
      throw std::runtime_error("the streamed step produced no gradient for " + store.tensors()[t].name);
  return g;
}
#else
Gradients on_cuda(const ir::Module&, runtime::HostStore&, const data::Batch&, const float*, bool) {
  throw UserError("horizon gradients: this build has no CUDA backend");
}
#endif

std::string joined(const std::vector<int32_t>& ids) {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) out += (i ? "," : "") + std::to_string(ids[i]);
  return out;
}

data::Batch text_batch(const std::vector<int32_t>& text, int64_t B, int64_t S) {
  if (static_cast<int64_t>(text.size()) < B * (S + 1))
    throw UserError("horizon gradients: --text has " + std::to_string(text.size()) + " tokens; " +
                    std::to_string(B * (S + 1)) + " are needed for --batch " + std::to_string(B) + " --seq " +
                    std::to_string(S));
  data::Batch batch;
  batch.batch = B;
  batch.seq = S;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t s = 0; s < S; ++s) {
      batch.tokens.push_back(text[static_cast<size_t>(b * (S + 1) + s)]);
      batch.targets.push_back(text[static_cast<size_t>(b * (S + 1) + s + 1)]);
    }
  return batch;
}

std::string joined(const std::vector<float>& values) {
  std::string out;
  char v[32];
  for (size_t i = 0; i < values.size(); ++i) {
    std::snprintf(v, sizeof v, "%.9g", values[i]);
    out += (i ? "," : "") + std::string(v);
  }
  return out;
}

/// The reference log-probabilities of the batch's rows, on the CPU: from
/// --reference-weights, or the step's own weights (every pair's margin then
/// starts at 0).
std::vector<float> reference_logps(const Arguments& a, const ir::Module& model, const runtime::HostStore& store,
                                   const data::Batch& batch) {
  const runtime::BatchView view{
      batch.tokens.data(), batch.targets.data(), nullptr, nullptr, batch.batch, batch.seq, -1};
  if (!a.has("reference-weights")) return runtime::CpuModel(model, store).sequence_logprobs(view);
  runtime::HostStore ref_store(model, codegen::cpu::MomentType::bf16);
  load_model_weights(a.get("reference-weights"), ref_store);
  return runtime::CpuModel(model, ref_store).sequence_logprobs(view);
}

/// One DPO forward and backward on the CPU, the unstreamed reference.
Gradients dpo_on_cpu(const ir::Module& model, runtime::HostStore& store, const data::Batch& batch,
                     const std::vector<float>& reference) {
  Gradients g{0, {}, "cpu", {}};
  for (const auto& t : store.tensors()) g.grads.emplace_back(static_cast<size_t>(t.elements), 0.0f);
  runtime::CpuModel cpu(model, store);
  runtime::BatchView view{batch.tokens.data(), batch.targets.data(), nullptr, nullptr, batch.batch, batch.seq, -1};
  view.reference = reference.data();
  g.loss = cpu.forward_backward(view, g.grads);
  g.logps = cpu.last_sequence_logprobs();
  return g;
}

}  // namespace

int run_gradients(const Args& args) {
  Arguments a(
      "gradients",
      "horizon gradients MODEL [--weights FILE|DIR] (--text TEXT | --data PATH) --out FILE [--batch B --seq S]\n"
      "                        [--device DEV]",
      "Computes the loss and every parameter gradient of one batch and writes them to a safetensors file under\n"
      "the checkpoint names. --text: TEXT in the model's tokens, windows of S+1 tokens, targets shifted by one.\n"
      "--data: the first batch `horizon train` would take from that data with the same --data options and\n"
      "--seed (chat templates, loss masks, packed documents); the file then also holds its positions and\n"
      "segments.");
  a.positional("MODEL", "a Hugging Face model directory, its config.json, or the model file the weights belong to");
  a.option("weights", "PATH",
           "a directory written by horizon train --save, an index or a .safetensors file (default: the MODEL\n"
           "directory's weights)");
  a.option("text", "TEXT", "the text to tokenize with the model's tokenizer (bytes for byte-level models)");
  add_data_options(a);
  a.option("seed", "N", "with --data: the seed of data sampling, as train's", "1");
  a.option("reference-weights", "PATH", "with --objective dpo: the reference model's weights (default: --weights)");
  a.option("beta", "B", "with --objective dpo: TRL's beta", "0.1");
  a.option("loss-type", "KIND", "with --objective dpo: sigmoid or ipo", "sigmoid");
  a.option("label-smoothing", "X", "with --objective dpo: TRL's label_smoothing", "0");
  a.option("out", "FILE", "where to write the gradients (safetensors)");
  a.option("batch", "B", "sequences", "2");
  a.option("seq", "S", "tokens per sequence", "16");
  // cpu by default, unlike train: the fp32 reference is what a float64
  // comparison at 1e-4 needs; the GPU's bf16 GEMMs are checked at 2e-2.
  a.option("device", "DEV",
           "cpu (the unstreamed fp32 reference) | cuda (the streamed step on the GPU, bf16 GEMMs) | auto", "cpu");
  a.option("grad-offload", "TYPE",
           std::string(kGradOffloadHelp) + "; with --device cuda (the gradients written are\n"
                                           "those the CPU optimizer would read)",
           "fp32");
  if (!a.parse(args)) return 0;
  if (!a.has("out")) throw UserError("horizon gradients: missing --out");
  const bool dpo = a.has("data") && uses_preference_data(a, a.get("data"));
  if (!dpo && a.has("text") == a.has("data"))
    throw UserError("horizon gradients: give exactly one of --text TEXT and --data PATH");
  const int64_t B = a.get_int("batch"), S = a.get_int("seq");
  if (B <= 0 || S <= 0) throw UserError("horizon gradients: --batch and --seq must be positive");
  const bool cuda = resolve_device("gradients", a.get("device")) == "cuda";
  const bool bf16_gradients = parse_bf16_gradients("gradients", a.get("grad-offload"));
  if (bf16_gradients && !cuda)
    throw UserError("horizon gradients: --grad-offload bf16 shapes the streamed step on the GPU; add --device cuda");

  const std::string model_path = a.get("MODEL");
  std::string weights = a.get("weights");
  if (weights.empty()) {
    const auto dir = frontend::model_dir_of(model_path);
    if (!dir || !dir->has_weights())
      throw UserError("horizon gradients: missing --weights (" + model_path + " has no weights beside it)");
    weights = dir->dir;
  }
  ir::Module model = frontend::load_model(model_path);
  data::Batch batch;
  passes::LowerOptions lower_options;
  std::map<std::string, std::string> metadata;
  if (dpo) {
    const DataContext context = data_context(a, model_path, model);
    LoadedDocuments docs =
        load_documents_cached(a, context, a.get("data"), static_cast<int64_t>(model.config_number("vocab", 256)));
    batch = data::PreferenceSampler(docs.documents, B, S, 1, false).all_batches().at(0);
    const std::string loss_type = a.get("loss-type");
    if (loss_type != "sigmoid" && loss_type != "ipo")
      throw UserError("horizon gradients: --loss-type must be sigmoid or ipo, got '" + loss_type + "'");
    lower_options.preference =
        passes::PreferenceLoss{a.get_double("beta"), a.get_double("label-smoothing"), loss_type == "ipo"};
  } else if (a.has("data")) {
    TrainData data = build_train_data(a, model_path, model, B, S, static_cast<uint64_t>(a.get_int("seed")));
    batch = data.next();
    lower_options.packed_documents = data.packed;
  } else {
    batch = text_batch(model_tokenizer(model_path, model, "--text")->encode(a.get("text")), B, S);
  }
  passes::lower(model, lower_options);
  runtime::HostStore store(model, codegen::cpu::MomentType::bf16);
  load_model_weights(weights, store);
  std::vector<float> reference;
  if (dpo) reference = reference_logps(a, model, store, batch);
  const Gradients g = cuda  ? on_cuda(model, store, batch, dpo ? reference.data() : nullptr, bf16_gradients)
                      : dpo ? dpo_on_cpu(model, store, batch, reference)
                            : on_cpu(model, store, batch);
  if (dpo) {
    runtime::PreferenceRewards rewards(*runtime::preference_beta(model));
    rewards.add(g.logps.data(), reference.data(), B);
    metadata["reference_logps"] = joined(reference);
    metadata["policy_logps"] = joined(g.logps);
    for (const auto& [name, value] : rewards.metrics()) metadata[name] = std::to_string(value);
  }

  std::vector<frontend::SafetensorsTensorRef> refs;
  for (size_t t = 0; t < g.grads.size(); ++t)
    refs.push_back({store.tensors()[t].name, ir::DType::f32, store.tensors()[t].shape, g.grads[t].data()});
  char loss_text[32];
  std::snprintf(loss_text, sizeof loss_text, "%.9g", g.loss);
  metadata.insert({{"loss", loss_text},
                   {"batch", std::to_string(B)},
                   {"seq", std::to_string(S)},
                   {"tokens", joined(batch.tokens)},
                   {"targets", joined(batch.targets)},
                   {"device", g.device}});
  if (bf16_gradients) metadata["grad_offload"] = "bf16";  // the gradients are the bf16 ones the slabs held
  if (!batch.positions.empty()) metadata["positions"] = joined(batch.positions);
  if (!batch.segments.empty()) metadata["segments"] = joined(batch.segments);
  frontend::write_safetensors(a.get("out"), refs, metadata);
  std::printf("loss %.6f, %zu gradients written to %s (%s)\n", g.loss, g.grads.size(), a.get("out").c_str(),
              g.device.c_str());
  return 0;
}

}  // namespace horizon::cli
