// `horizon train --record-batches FILE`: every training batch as one JSON
// line, so another framework can replay a run's exact data (the packed
// chat-data check against transformers does: bench/packed_chat).
#pragma once

#include <cstdio>
#include <string>

#include "data/batch_sampler.h"

namespace horizon::cli {

class BatchRecorder {
 public:
  /// Appends to `path` (a resumed run continues its file); UserError naming
  /// the path when it cannot be opened.
  explicit BatchRecorder(const std::string& path);
  ~BatchRecorder();
  BatchRecorder(const BatchRecorder&) = delete;
  BatchRecorder& operator=(const BatchRecorder&) = delete;

  /// One line: {"batch","seq","tokens","targets"[,"positions","segments"]}; flushed, so a
  /// killed run leaves whole lines.
  void write(const data::Batch& batch);

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

}  // namespace horizon::cli
