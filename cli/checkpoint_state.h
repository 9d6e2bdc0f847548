// trainer_state.json of a checkpoint: everything besides the tensors that a
// resumed run needs to continue exactly as the uninterrupted one would — the
// step, the learning-rate schedule with the run's total steps (a cosine
// anneals to it), the data sampler's position and the settings it depends
// on, and how many bytes of metrics.jsonl belong to the steps so far.
#pragma once

#include <cstdint>
#include <string>

#include "runtime/lr_schedule.h"

namespace horizon::cli {

struct TrainingState {
  int64_t step = 0;
  runtime::LrSchedule lr;  // lr.total: the run's total steps
  // The batch sampler (data/batch_sampler.h): its generator state after
  // `step` batches, and what the batches depend on.
  uint64_t sampler_state = 0;
  int64_t batch = 0, seq = 0;
  uint64_t seed = 0;
  int64_t metrics_bytes = 0;   // metrics.jsonl is cut back to this length on resume
  bool has_run_state = false;  // false for a checkpoint with tensors only (no trainer_state.json)
};

void write_training_state(const std::string& path, const TrainingState& s);
/// UserError naming the field for anything missing, mistyped or out of range.
TrainingState read_training_state(const std::string& path);

/// A decimal integer in [min, max] and nothing else ("-5", "abc", "12x" are errors).
int64_t parse_checkpoint_integer(const std::string& text, int64_t min, int64_t max, const std::string& file,
                                 const std::string& field);

}  // namespace horizon::cli
