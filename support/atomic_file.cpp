// POSIX calls behind AtomicFileWriter: open/write/fsync/rename/fsync(dir).
#include "support/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "support/error.h"

namespace horizon {

AtomicFileWriter::AtomicFileWriter(std::string path, std::string what)
    : path_(std::move(path)), tmp_(path_ + ".tmp"), what_(std::move(what)) {
  // O_TRUNC rather than unlink-then-create: a stale PATH.tmp from an earlier crash is simply overwritten.
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("cannot create the temporary file " + tmp_, errno);
}

AtomicFileWriter::~AtomicFileWriter() { discard(); }

void AtomicFileWriter::discard() {
  if (fd_ < 0) return;
  ::close(fd_);
  fd_ = -1;
  ::unlink(tmp_.c_str());
}

void AtomicFileWriter::write(const void* data, size_t bytes) {
  if (fd_ < 0) fail("write after the file was committed or abandoned", 0);
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    // Linux caps one write() at ~2 GiB; big tensors go in slices.
    size_t chunk = bytes < (size_t{1} << 30) ? bytes : (size_t{1} << 30);
    ssize_t n = ::write(fd_, p, chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("cannot write " + tmp_ + " after " + std::to_string(written_) + " bytes", n < 0 ? errno : EIO);
    p += n;
    bytes -= static_cast<size_t>(n);
    written_ += static_cast<uint64_t>(n);
  }
}

void AtomicFileWriter::commit() {
  if (fd_ < 0) fail("commit after the file was committed or abandoned", 0);
  if (::fsync(fd_) != 0) fail("cannot flush " + tmp_ + " to disk", errno);
  int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp_.c_str());
    fail("cannot close " + tmp_, err);
  }
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp_.c_str());
    fail("cannot rename " + tmp_ + " over it", err);
  }
  std::filesystem::path dir = std::filesystem::path(path_).parent_path();
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);  // best effort: some filesystems refuse fsync on folders, and the data is already safe
    ::close(dfd);
  }
}

void AtomicFileWriter::fail(const std::string& problem, int err) {
  discard();
  std::string why = err ? problem + " (" + std::strerror(err) + ")" : problem;
  throw_user_error(path_, "writing the " + what_, why,
                   "check that the folder exists and is writable, that the path is not a folder, and that the disk has "
                   "space; the previous " +
                       what_ + " at this path, if any, is unchanged");
}

}  // namespace horizon
