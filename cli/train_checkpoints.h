// Checkpointing of `horizon train`: opens the --save folder before anything
// large is allocated, restores --resume, saves checkpoint-STEP every
// --save-every steps, on SIGINT/SIGTERM and at the end, and writes the final
// model at the folder's top level. train_command.cpp calls this class and
// the functions below and nothing else of the checkpoint code.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "cli/arguments.h"
#include "cli/checkpoint_state.h"
#include "cli/commands.h"
#include "cli/interrupt.h"
#include "cli/model_dir_writer.h"
#include "cli/run_directory.h"
#include "cli/train_data.h"
#include "ir/module.h"
#include "runtime/host_store.h"
#include "runtime/trainer.h"

namespace horizon::cli {

struct CheckpointFlags {
  std::string save, resume;  // either may be empty
  int64_t every = 0, keep = 0;
  bool overwrite = false;
  ModelDirSource model_source;  // what the model files of each checkpoint carry over
};

class TrainCheckpoints {
 public:
  /// Locks and checks the --save folder (see RunDirectory).
  TrainCheckpoints(const CheckpointFlags& flags, const ir::Module& model);

  /// With --resume: loads the checkpoint into `store` (verified) and returns
  /// its state, after cutting metrics.jsonl back when the run continues in
  /// the folder it resumed from. nullopt without --resume.
  std::optional<TrainingState> resume(runtime::HostStore& store);

  /// metrics.jsonl of the --save folder, or "" without --save.
  std::string metrics_path() const { return dir_ ? dir_->metrics_path() : ""; }

  using StateFn = std::function<TrainingState()>;
  /// After each step: saves when the step is a multiple of --save-every, the
  /// last one, or `interrupted`. The trainer's deferred updates are finished first.
  void after_step(int64_t step, int64_t total, bool interrupted, runtime::Trainer& trainer, runtime::HostStore& store,
                  const StateFn& state);

  /// At the end of the run: a checkpoint of the final step unless one was
  /// just saved, and (unless interrupted) the model at the folder's top level.
  void finish(runtime::HostStore& store, const StateFn& state, bool interrupted);

  /// The last checkpoint saved, or "".
  const std::string& last_saved() const { return last_path_; }

 private:
  void save(runtime::HostStore& store, const TrainingState& state);

  CheckpointFlags flags_;
  const ir::Module& model_;
  std::unique_ptr<RunDirectory> dir_;
  std::string resume_from_;  // the checkpoint folder --resume names
  int64_t last_saved_step_ = -1;
  std::string last_path_;
};

/// --resume: the saved schedule and data position into `cfg` and `data`,
/// unless the flags say otherwise (docs/checkpoints.md, "Resume"). Random
/// windows restore their generator; packed documents replay the saved steps'
/// batches (the position after them is exact: sampling is deterministic).
void apply_resumed_state(const TrainingState& saved, const Arguments& a, runtime::TrainConfig& cfg, TrainData& data,
                         int64_t batch, int64_t seq);

/// What a checkpoint of the run so far records besides the tensors.
TrainingState training_state(const runtime::HostStore& store, const runtime::TrainConfig& cfg, const TrainData& data,
                             int64_t batch, int64_t seq, uint64_t seed, int64_t metrics_bytes);

/// After SIGINT/SIGTERM: prints what was saved and the command that resumes;
/// returns the exit status (130 or 143).
int report_interrupt(const InterruptRequest& interrupt, const Args& args, const TrainCheckpoints& checkpoints,
                     const std::string& save);

}  // namespace horizon::cli
