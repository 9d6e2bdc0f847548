// `horizon train MODEL --data PATH ...`: trains a model with progress,
// validation, metrics.jsonl and Hugging Face-loadable checkpoints. On the
// CPU backend a step is the unstreamed reference, or with --stream the
// compiled schedule on the emulated device (same result). With --device
// cuda (or auto where a GPU is present) the compiled schedule runs on the
// GPU, weights streamed from the host store, the optimizer on the CPU.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "cli/arguments.h"
#include "cli/batch_recorder.h"
#include "cli/checkpoint.h"
#include "cli/commands.h"
#include "cli/cuda_training.h"
#include "cli/device_option.h"
#include "cli/grad_offload_option.h"
#include "cli/initial_weights.h"
#include "cli/interrupt.h"
#include "cli/memory_check.h"
#include "cli/model_tokenizer.h"
#include "cli/moments_option.h"
#include "cli/progress.h"
#include "cli/reference_logprobs.h"
#include "cli/resident_option.h"
#include "cli/train_checkpoints.h"
#include "cli/train_data.h"
#include "cli/train_option_checks.h"
#include "cli/weight_loader.h"
#include "data/batch_sampler.h"
#include "frontend/model_json.h"
#include "ir/param_count.h"
#include "passes/lower.h"
#include "passes/schedule_pipeline.h"
#include "runtime/generate.h"
#include "runtime/schedule_executor.h"
#include "runtime/trainer.h"
#include "support/error.h"
#include "support/numbers.h"

namespace horizon::cli {
namespace {

Arguments train_arguments() {
  Arguments a("train", "horizon train MODEL --data PATH [options]",
              "Trains MODEL on PATH (a text file, a folder of text files, or a token file) and reports loss,\n"
              "validation loss, tokens/s, TFLOPS and memory; --save writes Hugging Face-loadable weights.");
  a.positional("MODEL",
               "a Hugging Face model directory (config.json, weights, tokenizer: training starts from its weights),\n"
               "its config.json, or a model file (models/*.json: random initialization)");
  add_data_options(a);
  a.option("beta", "B", "with --objective dpo: TRL's beta, the strength of the pull towards the reference", "0.1");
  a.option("loss-type", "KIND", "with --objective dpo: sigmoid (DPO) or ipo, as TRL defines them", "sigmoid");
  a.option("label-smoothing", "X", "with --objective dpo and the sigmoid loss: TRL's label_smoothing (cDPO)", "0");
  a.option("steps", "N", "optimizer steps (0 with --save: write the initial weights)", "100");
  a.option("batch", "B", "sequences per step", "8");
  a.option("seq", "S", "tokens per sequence", "128");
  a.option("micro-batches", "M", "split each batch into M micro-batches; gradients add up, their mean updates", "1");
  a.flag("stream", "run each step as the compiled schedule (weights streamed layer by layer through slots) on the\n"
                   "emulated device; same result as the unstreamed step");
  a.option("checkpoint-every", "K", "with --stream: save every K-th block input, recompute the rest (0: choose)", "0");
  a.option("slots", "N", "with --stream: weight slots on the device (0: choose)", "0");
  a.option("resident", "N",
           "layers whose weights, optimizer state and gradient stay on the GPU and are updated there: auto (with\n"
           "--device cuda as many as the free GPU memory holds; none on the emulated device), 0 (stream every\n"
           "layer: GPU memory independent of depth) or a count",
           "auto");
  a.option("keep-activations", "N", kKeepActivationsHelp, "auto");
  a.option("lr", "LR", "peak learning rate", "1e-3");
  a.option("min-lr-ratio", "R", "final learning rate as a fraction of the peak", "0.1");
  a.option("warmup", "W", "linear warm-up steps", "0");
  a.option("schedule", "KIND", "constant | cosine | linear (decay after warm-up)", "cosine");
  a.option("weight-decay", "WD", "AdamW decoupled weight decay (not applied to norms, biases, embeddings)", "0.0");
  a.option("beta1", "B1", "AdamW beta1", "0.9");
  a.option("beta2", "B2", "AdamW beta2", "0.95");
  a.option("eps", "EPS", "AdamW epsilon", "1e-8");
  a.option("clip", "C", "global gradient-norm clipping threshold, 0 to disable", "1.0");
  a.flag("early-updates",
         "with --clip 0 and a streamed schedule: update each layer as its gradient lands instead of after the\n"
         "global norm, saving the fp32 gradient slabs (4 B/param of pinned host memory); a step with a non-finite\n"
         "gradient then skips only the tensors whose own gradient is not finite, and resident layers' GPU updates\n"
         "are not guarded (the run still stops after --max-bad-steps, and no non-finite checkpoint is written)");
  a.option("moments", "TYPE", kMomentsHelp, "bf16");
  a.option("grad-offload", "TYPE", std::string(kGradOffloadHelp) + "; with --stream or --device cuda", "fp32");
  a.option("host-mem", "SIZE",
           "host memory the run may take, e.g. 120G; checked before anything is allocated (default: what the "
           "machine has available)");
  a.option("seed", "N", "seed of initialization and data sampling", "1");
  a.option("eval-every", "K", "measure validation loss every K steps (0: only at the end)", "0");
  a.option("eval-batches", "N", "validation batches per evaluation", "4");
  a.option("save", "DIR",
           "the run's folder: checkpoint-STEP/ folders (model, optimizer, data position, schedule, manifest),\n"
           "metrics.jsonl, and the final model at its top level: a Hugging Face model directory (safetensors\n"
           "shards, config.json, generation_config.json, the tokenizer files)");
  a.option("max-shard-size", "SIZE", "with --save: largest weight shard, as transformers' save_pretrained", "5GB");
  a.option("save-every", "N", "also save a checkpoint every N steps (0: only at the end and on SIGINT/SIGTERM)", "0");
  a.option("keep", "K", "keep only the newest K checkpoints (0: all)", "0");
  a.flag("overwrite", "let --save replace the run already in its folder");
  a.option("init", "PATH",
           "start from these weights (a model directory, model.safetensors.index.json or .safetensors file, Hugging\n"
           "Face names) or 'random'; default: the MODEL directory's weights, random for a model file");
  a.option("resume", "DIR",
           "continue from the newest complete checkpoint of this --save folder (or from a checkpoint-STEP folder);\n"
           "--steps is then the step to end at, the saved run's total unless given, and the schedule is the\n"
           "saved one unless --lr/--schedule/--warmup/--min-lr-ratio are given");
  a.option("max-bad-steps", "N",
           "stop after N steps in a row with a non-finite loss or gradient norm (each is skipped: no update)", "3");
  a.option("sample", "N", "after training, print N sampled tokens", "0");
  a.option("device", "DEV",
           "cpu | cuda | auto (cuda where a GPU is present); cuda runs the compiled schedule on the GPU", "auto");
  a.option("trace", "FILE", "with --device cuda: write the last step's measured timeline as a Chrome trace");
  a.option("record-batches", "FILE",
           "append every training batch to FILE, one JSON line per step (tokens, targets with -1 where no loss,\n"
           "positions and segments of packed documents): to replay the run's exact data in another framework");
  return a;
}

double flops_per_token(const ir::Module& m, int64_t seq) {
  double params = static_cast<double>(ir::summarize_params(m).total);
  double layers = m.config_number("layers", 0), hidden = m.config_number("hidden", 0);
  return 6.0 * params + 12.0 * layers * hidden * static_cast<double>(seq);
}

void check_positive(const Arguments& a, const char* name) {
  if (a.get_int(name) <= 0)
    throw UserError(std::string("horizon train: --") + name + " must be positive, got " + a.get(name));
}

// --device; auto picks cpu with --stream, which asks for the emulated device.
std::string train_device(const std::string& requested, bool stream) {
  if (requested == "cuda" && stream)
    throw UserError("horizon train: --stream runs the schedule on the emulated device and --device cuda on the GPU; "
                    "pick one");
  if (stream && requested == "auto") return "cpu";
  return resolve_device("train", requested);
}
// --host-mem in bytes, 0 when not given.
double host_memory_option(const Arguments& a) {
  const double host_mem = a.has("host-mem") ? static_cast<double>(a.get_bytes("host-mem")) : 0.0;
  if (a.has("host-mem") && host_mem <= 0)
    throw UserError("horizon train: --host-mem must be a positive size like 120G, got '" + a.get("host-mem") + "'");
  return host_mem;
}

}  // namespace

int run_train(const Args& args) {
  Arguments a = train_arguments();
  if (!a.parse(args)) return 0;
  if (!a.has("data")) throw UserError("horizon train: missing --data PATH; e.g. --data /usr/share/games/fortunes");
  for (const char* n : {"batch", "seq", "micro-batches"}) check_positive(a, n);
  check_train_options(a);
  // --steps 0 --save DIR writes the initial weights: a run another engine can start from too.
  if (a.get_int("steps") < 0) throw UserError("horizon train: --steps must be 0 or positive, got " + a.get("steps"));
  for (const char* n : {"checkpoint-every", "slots"})
    if (a.get_int(n) < 0)
      throw UserError(std::string("horizon train: --") + n + " must be 0 (choose) or positive, got " + a.get(n));
  const bool stream = a.get_flag("stream");
  const std::string device = train_device(a.get("device"), stream);
  const bool cuda = device == "cuda";
  if (!stream && !cuda && (a.get_int("checkpoint-every") || a.get_int("slots")))
    throw UserError("horizon train: --checkpoint-every and --slots shape the streamed schedule; add --stream");
  for (const char* n : {"resident", "keep-activations"})
    if (!stream && !cuda && a.has(n))
      throw UserError(std::string("horizon train: --") + n +
                      " shapes the streamed schedule on the GPU; use --device cuda (or --stream for the emulated "
                      "device)");
  if (a.get("grad-offload") != "fp32" && !stream && !cuda)
    throw UserError("horizon train: --grad-offload shapes the streamed schedule's gradient slabs; add --stream or use "
                    "--device cuda");
  if (a.has("trace") && !cuda)
    throw UserError("horizon train: --trace records the GPU timeline; it needs --device cuda");

  ir::Module model = frontend::load_model(a.get("MODEL"));
  // The weights are opened (mapped, every shard's header checked against the index) before the data is read.
  const std::string init = initial_weights(a.get("MODEL"), a.get("init"), a.has("resume"));
  std::optional<frontend::WeightFiles> init_files;
  if (!init.empty()) init_files = frontend::WeightFiles::open(init);
  ModelDirSource save_source{a.get("MODEL"), parse_shard_size(a.get("max-shard-size")), {}, {}};
  const codegen::cpu::MomentType moments = parse_moments("train", a.get("moments"));
  const int64_t bytes_per_param = store_bytes_per_param(moments);
  check_run_size(model, a.get_int("batch"), a.get_int("seq"), a.get_int("micro-batches"), bytes_per_param,
                 !stream && !cuda, host_memory_option(a));
  const int64_t B = a.get_int("batch"), S = a.get_int("seq"), M = a.get_int("micro-batches");
  if (B % M)
    throw UserError("horizon train: --batch " + std::to_string(B) + " is not divisible by --micro-batches " +
                    std::to_string(M) + "; pick a batch that is a multiple of it");
  const int64_t max_seq = static_cast<int64_t>(model.config_number("max_seq", 0));
  if (max_seq > 0 && S > max_seq)
    throw UserError("horizon train: --seq " + std::to_string(S) + " exceeds the model's max_seq " +
                    std::to_string(max_seq));

  // --sample turns text into tokens and back with the model's tokenizer.
  std::unique_ptr<data::Tokenizer> tokenizer;
  if (a.get_int("sample") > 0) tokenizer = model_tokenizer(a.get("MODEL"), model, "--sample");
  const uint64_t seed = static_cast<uint64_t>(a.get_int("seed"));
  if (!uses_preference_data(a, a.get("data")))
    for (const char* n : {"beta", "loss-type", "label-smoothing"})
      if (a.has(n))
        throw UserError(std::string("horizon train: --") + n +
                        " shapes the DPO loss; add --objective dpo (with prompt/chosen/rejected rows)");
  TrainData data = build_train_data(a, a.get("MODEL"), model, B, S, seed);
  // Packed documents compile into a model whose rope and attention read per-token positions and segments.
  passes::LowerOptions lower_options;
  lower_options.packed_documents = data.packed;
  if (data.preference) {
    const std::string loss_type = a.get("loss-type");
    if (loss_type != "sigmoid" && loss_type != "ipo")
      throw UserError("horizon train: --loss-type must be sigmoid or ipo, got '" + loss_type + "'");
    lower_options.preference =
        passes::PreferenceLoss{a.get_double("beta"), a.get_double("label-smoothing"), loss_type == "ipo"};
  }
  passes::lower(model, lower_options);
  const int64_t eval_batches = a.get_int("eval-batches");

  const float clip = static_cast<float>(a.get_double("clip"));
  // The streamed schedule first: its host buffers are part of what must fit.
  std::optional<ir::Schedule> schedule;
  if (stream || cuda) {
    passes::StreamingOptions opts;
    opts.batch = B;
    opts.seq = S;
    opts.micro_batches = M;
    opts.checkpoint_every = a.get_int("checkpoint-every");
    opts.slots = a.get_int("slots");
    // The global norm is measured before the first update even with --clip 0
    // (the threshold is then infinite): only so can a non-finite gradient
    // anywhere skip the whole step, resident layers' GPU updates included.
    // --early-updates trades that for the gradient slabs' memory.
    opts.clip = !a.get_flag("early-updates");
    opts.bytes_per_param = bytes_per_param;
    opts.bf16_gradients = parse_bf16_gradients("train", a.get("grad-offload"));
    opts.resident = parse_resident("train", a.get("resident"));
    opts.keep_activations = parse_keep_activations("train", a.get("keep-activations"));
    if (cuda) {
      opts.gpu_bytes = cuda_free_memory_bytes();
      if (opts.resident != 0) opts.gpu_reserve_bytes += moment_scale_bytes(model, moments);
      schedule = lower_for_gpu(model, opts, {}, a.get_int("eval-batches") > 0 && !data.preference);
    } else {
      if (opts.resident < 0) opts.resident = 0;  // the emulated device has no memory to fill
      if (opts.keep_activations < 0) opts.keep_activations = 0;
      schedule = passes::lower_to_schedule(model, opts);
    }
  }
  const double host_mem = host_memory_option(a);
  check_host_memory(model, schedule ? &*schedule : nullptr, bytes_per_param, host_mem);

  // The run folder is locked once the run is known to fit, before the store is allocated.
  TrainCheckpoints checkpoints({a.get("save"), a.get("resume"), a.get_int("save-every"), a.get_int("keep"),
                                a.get_flag("overwrite"), save_source},
                               model);
  runtime::HostStore store(model, moments);
  if (init_files)
    std::printf("%s\n", load_weight_files(*init_files, store).summary().c_str());
  else
    store.init_random(seed);
  // DPO's reference: the starting weights' log-probabilities, before a resume replaces them.
  std::vector<float> reference;
  if (data.preference) {
    ReferenceLogprobs r = reference_logprobs(model, store, data, weights_identity(a.get("MODEL"), init, seed), S,
                                             cuda ? cuda_sequence_logprobs(model, store, B, S)
                                                  : std::function<std::vector<float>(const runtime::TokenBatch&)>());
    std::printf("%s\n", r.note.c_str());
    reference = std::move(r.per_document);
  }
  std::optional<TrainingState> resumed = checkpoints.resume(store);

  runtime::TrainConfig cfg;
  cfg.steps = a.has("epochs") && !a.has("steps") ? data.steps_for_epochs(a.get_int("epochs")) : a.get_int("steps");
  cfg.lr.kind = runtime::parse_schedule_kind(a.get("schedule"));
  cfg.lr.peak = a.get_double("lr");
  cfg.lr.warmup = a.get_int("warmup");
  cfg.lr.total = cfg.steps;
  cfg.lr.min_ratio = a.get_double("min-lr-ratio");
  cfg.adamw.beta1 = static_cast<float>(a.get_double("beta1"));
  cfg.adamw.beta2 = static_cast<float>(a.get_double("beta2"));
  cfg.adamw.weight_decay = static_cast<float>(a.get_double("weight-decay"));
  cfg.adamw.eps = static_cast<float>(a.get_double("eps"));
  cfg.max_bad_steps = a.get_int("max-bad-steps");
  cfg.clip = clip;
  cfg.eval_every = a.get_int("eval-every") > 0 ? a.get_int("eval-every") : cfg.steps;
  cfg.micro_batches = M;
  if (resumed) apply_resumed_state(*resumed, a, cfg, data, B, S);

  std::string save = a.get("save");
  std::printf("model %s: %s parameters | host store %s (%d B/param)\n%s\n", model.name.c_str(),
              format_count(store.parameter_count()).c_str(), format_bytes(static_cast<double>(store.bytes())).c_str(),
              store.bytes_per_parameter(), data.summary.c_str());
  const char* device_text = cuda     ? "cuda (streamed schedule)"
                            : stream ? "cpu (streamed schedule, emulated device)"
                                     : "cpu";
  std::printf("device %s | batch %lld x seq %lld in %lld micro-batch(es) | %lld steps from step %lld | lr %g %s\n",
              device_text, static_cast<long long>(B), static_cast<long long>(S), static_cast<long long>(M),
              static_cast<long long>(cfg.steps), static_cast<long long>(store.step()), cfg.lr.peak,
              a.get("schedule").c_str());

  std::unique_ptr<runtime::StepBackend> backend;
  std::unique_ptr<CudaReport> cuda_report;
  if (schedule) {
    int64_t arena = 0;
    for (const ir::ArenaPlan& p : schedule->arena_plans) arena = std::max(arena, p.bytes);
    const int64_t resident = resident_layers(*schedule), regions = static_cast<int64_t>(store.regions().size());
    std::printf("schedule: %lld instructions, %lld events | %lld of %lld layers resident on the device | %lld of "
                "%lld blocks keep activations | checkpoint every %lld (%s) | %lld slots | arena %s | device %s, host "
                "%s\n",
                static_cast<long long>(schedule->instrs.size()), static_cast<long long>(schedule->events),
                static_cast<long long>(resident), static_cast<long long>(regions),
                static_cast<long long>(kept_blocks(*schedule)),
                static_cast<long long>(model.find_stage("block")->instances),
                static_cast<long long>(schedule->config.checkpoint_every),
                schedule->config.host_checkpoints ? "host" : "device", static_cast<long long>(schedule->config.slots),
                format_bytes(static_cast<double>(arena)).c_str(),
                format_bytes(static_cast<double>(schedule->bytes(ir::Place::gpu))).c_str(),
                format_bytes(static_cast<double>(schedule->bytes(ir::Place::host))).c_str());
    if (cuda)
      backend = make_cuda_backend(*schedule, model, store, cfg, cfg.steps, a.get("trace"), cuda_report);
    else
      backend = runtime::make_streamed_step(*schedule, model, store, cfg);
  } else {
    backend = runtime::make_unstreamed_step(model, store, cfg);
  }
  runtime::Trainer trainer(model, store, cfg, std::move(backend));
  Progress progress(cfg.steps, flops_per_token(model, S), checkpoints.metrics_path());
  auto state = [&] { return training_state(store, cfg, data, B, S, seed, progress.metrics_bytes()); };
  InterruptRequest interrupt;
  std::unique_ptr<BatchRecorder> recorder;
  if (a.has("record-batches")) recorder = std::make_unique<BatchRecorder>(a.get("record-batches"));
  trainer.run(
      [&] {
        data::Batch b = data.next();
        if (recorder) recorder->write(b);
        std::vector<float> rows;
        for (int64_t doc : b.documents) rows.push_back(reference.at(static_cast<size_t>(doc)));
        return runtime::TokenBatch{b.batch,
                                   b.seq,
                                   std::move(b.tokens),
                                   std::move(b.targets),
                                   std::move(b.positions),
                                   std::move(b.segments),
                                   std::move(rows)};
      },
      eval_batches > 0 && data.validation ? runtime::Trainer::ValidationSource([&] {
        std::vector<runtime::TokenBatch> out;
        for (data::Batch& b : data.validation(eval_batches))
          out.push_back({b.batch,
                         b.seq,
                         std::move(b.tokens),
                         std::move(b.targets),
                         std::move(b.positions),
                         std::move(b.segments),
                         {}});
        return out;
      })
                                          : runtime::Trainer::ValidationSource(),  // --eval-batches 0: no validation
      [&](const runtime::StepMetrics& m) {
        progress.step(m);
        if (cuda_report) cuda_report->step(m, progress);
        if (interrupt.requested()) trainer.stop();
        checkpoints.after_step(m.step, cfg.steps, interrupt.requested() != 0, trainer, store, state);
      });
  progress.finish();
  if (cuda_report) cuda_report->finish();
  if (progress.first_loss() >= 0)
    std::printf(progress.last_val_loss() >= 0 ? "loss %.4f -> %.4f (validation %.4f)\n" : "loss %.4f -> %.4f\n",
                progress.first_loss(), progress.last_loss(), progress.last_val_loss());

  checkpoints.finish(store, state, interrupt.requested() != 0);
  if (interrupt.requested()) return report_interrupt(interrupt, args, checkpoints, save);
  if (!save.empty())
    std::printf("saved %s (a Hugging Face model directory: weights, config.json, tokenizer) and %s\n", save.c_str(),
                checkpoints.last_saved().c_str());
  if (int64_t n = a.get_int("sample"); n > 0) {
    runtime::SampleOptions opts;
    opts.tokens = n;
    opts.seed = seed;
    opts.max_context = S;
    std::vector<int32_t> out = runtime::generate(model, store, tokenizer->encode("\n"), opts);
    std::printf("--- sample ---\n%s\n--------------\n", tokenizer->decode(out).c_str());
  }
  return 0;
}

}  // namespace horizon::cli
