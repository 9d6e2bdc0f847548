#include "cli/train_checkpoints.h"

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
  last_path_ = dir_->save(state.step, [&](const std::string& tmp) { save_checkpoint(tmp, model_, store, &state, flags_.model_source); },
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

}  // namespace horizon::cli
