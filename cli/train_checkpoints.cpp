#include "cli/train_checkpoints.h"

#include <csignal>
#include <cstdio>
#include <filesystem>

#include "cli/checkpoint.h"
#include "support/error.h"

namespace fs = std::filesystem;

namespace horizon::cli {
namespace {

bool same_folder(const std::string& a, const std::string& b) {
  std::error_code ec;
  return fs::equivalent(a, b, ec);
}

}  // namespace

TrainCheckpoints::TrainCheckpoints(const CheckpointFlags& flags, const ir::Module& model)
    : flags_(flags), model_(model) {
  if (!flags.resume.empty()) resume_from_ = find_resume_checkpoint(flags.resume);
  if (flags.save.empty()) {
    if (flags.every > 0) throw UserError("horizon train: --save-every needs --save DIR, the folder checkpoints go to");
    return;
  }
  // Resuming "here": from the folder itself or from one of its checkpoints.
  bool here = false;
  if (!resume_from_.empty()) {
    std::error_code ec;
    here = fs::exists(flags.save, ec) && (same_folder(flags.save, resume_from_) ||
                                          same_folder(flags.save, fs::path(resume_from_).parent_path().string()));
  }
  dir_ = std::make_unique<RunDirectory>(flags.save, here, flags.overwrite);
}

std::optional<TrainingState> TrainCheckpoints::resume(runtime::HostStore& store) {
  if (resume_from_.empty()) return std::nullopt;
  TrainingState state = resume_checkpoint(resume_from_, store);
  std::printf("resumed from %s (step %lld)\n", resume_from_.c_str(), static_cast<long long>(state.step));
  last_saved_step_ = -1;
  if (dir_ && same_folder(dir_->path(), fs::path(resume_from_).parent_path().string())) {
    // The steps after the checkpoint are trained again: their lines go.
    dir_->truncate_metrics(state.metrics_bytes);
    last_saved_step_ = state.step;
    last_path_ = resume_from_;
  }
  return state;
}

void TrainCheckpoints::save(runtime::HostStore& store, const TrainingState& state) {
  last_path_ = dir_->save(
      state.step, [&](const std::string& tmp) { save_checkpoint(tmp, model_, store, &state, flags_.model_source); },
      flags_.keep);
  last_saved_step_ = state.step;
}

void TrainCheckpoints::after_step(int64_t step, int64_t total, bool interrupted, runtime::Trainer& trainer,
                                  runtime::HostStore& store, const StateFn& state) {
  if (!dir_) return;
  const bool due = (flags_.every > 0 && step % flags_.every == 0) || step == total || interrupted;
  if (!due || step == last_saved_step_) return;
  trainer.finish_updates();  // deferred updates (CUDA) land in the store first
  save(store, state());
}

void TrainCheckpoints::finish(runtime::HostStore& store, const StateFn& state, bool interrupted) {
  if (!dir_) return;
  if (store.step() != last_saved_step_) save(store, state());
  if (interrupted) return;
  // The final model where users load it: the folder itself.
  write_model_files(dir_->path(), model_, store, flags_.model_source);
}

// --resume: the saved schedule and data position, unless the flags say otherwise.
// Random windows restore their generator; packed documents replay the saved
// steps' batches (the position after them is exact: sampling is deterministic).
void apply_resumed_state(const TrainingState& saved, const Arguments& a, runtime::TrainConfig& cfg, TrainData& data,
                         int64_t batch, int64_t seq) {
  auto replay = [&] {
    for (int64_t s = 0; s < saved.step; ++s) data.next();
  };
  if (!saved.has_run_state) {  // a checkpoint of tensors only: the flags decide; skip the batches it trained on
    replay();
    return;
  }
  if (saved.batch != batch || saved.seq != seq || saved.seed != static_cast<uint64_t>(a.get_int("seed")))
    throw UserError("horizon train: the checkpoint's data position is for --batch " + std::to_string(saved.batch) +
                    " --seq " + std::to_string(saved.seq) + " --seed " + std::to_string(saved.seed) +
                    "; resume with those (or start a new run with --init to change them)");
  data::DataPosition position = data.position();
  if (position.sampler == "windows") {
    position.window_state = saved.sampler_state;
    data.set_position(position);
  } else {
    replay();
  }
  if (!a.has("steps")) cfg.steps = saved.lr.total;
  runtime::LrSchedule lr = saved.lr;
  if (a.has("lr")) lr.peak = cfg.lr.peak;
  if (a.has("schedule")) lr.kind = cfg.lr.kind;
  if (a.has("warmup")) lr.warmup = cfg.lr.warmup;
  if (a.has("min-lr-ratio")) lr.min_ratio = cfg.lr.min_ratio;
  if (cfg.steps != saved.lr.total)
    std::printf("note: the schedule now ends at step %lld instead of the saved run's %lld\n",
                static_cast<long long>(cfg.steps), static_cast<long long>(saved.lr.total));
  lr.total = cfg.steps;
  cfg.lr = lr;
  if (a.get_int("eval-every") <= 0) cfg.eval_every = cfg.steps;
}

TrainingState training_state(const runtime::HostStore& store, const runtime::TrainConfig& cfg, const TrainData& data,
                             int64_t batch, int64_t seq, uint64_t seed, int64_t metrics_bytes) {
  TrainingState s;
  s.step = store.step();
  s.lr = cfg.lr;
  s.sampler_state = data.position().window_state;  // packed documents: replayed from the step on resume
  s.batch = batch;
  s.seq = seq;
  s.seed = seed;
  s.metrics_bytes = metrics_bytes;
  return s;
}

int report_interrupt(const InterruptRequest& interrupt, const Args& args, const TrainCheckpoints& checkpoints,
                     const std::string& save) {
  const char* name = interrupt.requested() == SIGTERM ? "SIGTERM" : "SIGINT";
  if (save.empty()) {
    std::fprintf(stderr, "stopped by %s; nothing saved (no --save)\n", name);
    return interrupt.exit_code();
  }
  std::string command = "horizon train";
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--resume" || args[i] == "--overwrite") {
      i += args[i] == "--resume";
      continue;
    }
    if (args[i].rfind("--resume=", 0) == 0) continue;
    command += " " + args[i];
  }
  std::fprintf(stderr, "stopped by %s; saved %s\nresume with: %s --resume %s\n", name, checkpoints.last_saved().c_str(),
               command.c_str(), save.c_str());
  return interrupt.exit_code();
}

}  // namespace horizon::cli
