#include "cli/batch_recorder.h"

#include <cerrno>
#include <cstring>

#include "frontend/json_file.h"
#include "support/error.h"

namespace horizon::cli {

BatchRecorder::BatchRecorder(const std::string& path) : path_(path), file_(std::fopen(path.c_str(), "a")) {
  if (!file_)
    throw UserError("--record-batches " + path + ": cannot open for appending (" + std::strerror(errno) +
                    "); give a path in a writable folder");
}

BatchRecorder::~BatchRecorder() {
  if (file_) std::fclose(file_);
}

void BatchRecorder::write(const data::Batch& b) {
  frontend::Json line{{"batch", b.batch}, {"seq", b.seq}, {"tokens", b.tokens}, {"targets", b.targets}};
  if (!b.positions.empty()) line["positions"] = b.positions;
  if (!b.segments.empty()) line["segments"] = b.segments;
  const std::string text = line.dump() + "\n";
  if (std::fwrite(text.data(), 1, text.size(), file_) != text.size() || std::fflush(file_) != 0)
    throw UserError("--record-batches " + path_ + ": write failed (" + std::strerror(errno) + "); is the disk full?");
}

}  // namespace horizon::cli
