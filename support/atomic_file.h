// Writing a file so that a crash, a full disk or a kill mid-save never leaves
// a broken file behind and never destroys the previous version: bytes go to
// PATH.tmp, which is flushed to disk (fsync) and only then renamed over PATH.
// rename() within one folder is atomic, so readers see the old complete file
// or the new complete one. Checkpoints and token files are written this way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace horizon {

/// One atomic file write. Construct, write(), then commit(); if commit() is
/// never reached (an exception, an early return) the destructor removes
/// PATH.tmp and PATH keeps its old contents.
class AtomicFileWriter {
 public:
  /// Opens PATH.tmp; `what` ("checkpoint", "token file") names the file in
  /// errors. UserError if the temporary file cannot be created.
  AtomicFileWriter(std::string path, std::string what);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  /// Appends bytes; UserError (disk full, I/O error) leaves PATH untouched.
  void write(const void* data, size_t bytes);
  void write(std::string_view text) { write(text.data(), text.size()); }

  /// Flushes to disk and renames PATH.tmp over PATH, then syncs the folder so
  /// the rename itself survives a power loss.
  void commit();

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return tmp_; }
  uint64_t bytes_written() const { return written_; }

 private:
  [[noreturn]] void fail(const std::string& problem, int err);
  void discard();

  std::string path_, tmp_, what_;
  int fd_ = -1;
  uint64_t written_ = 0;
};

}  // namespace horizon
