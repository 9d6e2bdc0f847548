// Training progress for people: on a terminal one line redrawn in place with
// a bar; otherwise (logs, CI) a plain line every few steps. Also writes every
// step as one JSON object per line to a metrics file.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "runtime/trainer.h"

namespace horizon::cli {

class Progress {
 public:
  /// flops_per_token: model FLOPs of one token (for TFLOPS); metrics_path may be empty.
  Progress(int64_t total_steps, double flops_per_token, const std::string& metrics_path);
  ~Progress();

  void step(const runtime::StepMetrics& m);
  /// Ends the in-place line before other output.
  void finish();

  double last_val_loss() const { return last_val_; }
  double first_loss() const { return first_loss_; }
  double last_loss() const { return last_loss_; }
  /// Bytes of the metrics file so far (0 without one): a checkpoint's metrics offset.
  int64_t metrics_bytes() const;

 private:
  int64_t total_;
  double flops_per_token_;
  bool tty_;
  std::FILE* metrics_ = nullptr;
  double elapsed_ = 0, first_loss_ = -1, last_loss_ = -1, last_val_ = -1;
  int64_t tokens_ = 0;
  bool line_open_ = false;
};

}  // namespace horizon::cli
