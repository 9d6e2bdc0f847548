// SIGINT and SIGTERM during training: the first asks the run to finish its
// step, save a checkpoint and exit 130 (SIGINT) or 143 (SIGTERM); a second
// SIGINT stops at once. Signal handlers may only set a flag, so the training
// loop polls requested() after each step.
#pragma once

namespace horizon::cli {

class InterruptRequest {
 public:
  /// Installs the handlers; the destructor restores the previous ones.
  InterruptRequest();
  ~InterruptRequest();
  InterruptRequest(const InterruptRequest&) = delete;
  InterruptRequest& operator=(const InterruptRequest&) = delete;

  /// The signal received (SIGINT, SIGTERM), or 0.
  int requested() const;
  /// 128 + the signal: the shell's exit status for it.
  int exit_code() const { return 128 + requested(); }
};

}  // namespace horizon::cli
