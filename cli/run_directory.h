// The folder a training run saves into (--save DIR):
//   DIR/checkpoint-STEP/   complete checkpoints (cli/checkpoint.h), each
//                          written to DIR/.tmp-checkpoint-STEP and renamed
//                          only once every file and the manifest are on disk
//   DIR/metrics.jsonl      one line per step (cut back on resume, so a step
//                          appears once however often the run was resumed)
//   DIR/model.safetensors, DIR/config.json   the final model (what users load)
//   DIR/.horizon.lock      flock()ed while a run writes here
// A new run refuses a folder that already holds files unless it resumes
// from it or is told to --overwrite.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace horizon::cli {

class RunDirectory {
 public:
  /// Creates DIR if needed and locks it; UserError if DIR is a file, another
  /// run holds the lock, or DIR holds files and neither `resuming_here` nor
  /// `overwrite` (which deletes its checkpoints and metrics) is set.
  /// Leftovers of a save that was cut short (.tmp-*) are removed.
  RunDirectory(const std::string& dir, bool resuming_here, bool overwrite);
  ~RunDirectory();
  RunDirectory(const RunDirectory&) = delete;
  RunDirectory& operator=(const RunDirectory&) = delete;

  const std::string& path() const { return dir_; }
  std::string metrics_path() const { return dir_ + "/metrics.jsonl"; }

  /// Writes DIR/checkpoint-STEP: `write` fills a temporary folder, which is
  /// synced and renamed into place (replacing an older checkpoint of the same
  /// step); then all but the newest `keep` checkpoints are deleted (keep 0:
  /// none). Returns the checkpoint's path.
  std::string save(int64_t step, const std::function<void(const std::string&)>& write, int64_t keep);

  /// Cuts metrics.jsonl back to `bytes` (the length a checkpoint recorded).
  void truncate_metrics(int64_t bytes);

 private:
  std::string dir_;
  int lock_fd_ = -1;
};

/// DIR/checkpoint-STEP folders that hold a manifest.json, oldest first.
std::vector<std::pair<int64_t, std::string>> list_checkpoints(const std::string& dir);

/// The checkpoint `--resume PATH` names: PATH itself when it holds a
/// manifest.json, else its newest checkpoint-STEP. UserError if there is none.
std::string find_resume_checkpoint(const std::string& path);

}  // namespace horizon::cli
