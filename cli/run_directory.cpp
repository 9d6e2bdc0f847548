#include "cli/run_directory.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>

#include "support/error.h"

namespace fs = std::filesystem;

namespace horizon::cli {
namespace {

constexpr const char* kLock = ".horizon.lock";
constexpr const char* kPrefix = "checkpoint-";
constexpr const char* kTempPrefix = ".tmp-checkpoint-";

// The step of "checkpoint-STEP", or -1.
int64_t checkpoint_step(const std::string& name) {
  if (name.rfind(kPrefix, 0) != 0) return -1;
  const std::string digits = name.substr(std::strlen(kPrefix));
  int64_t step = -1;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), step);
  if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size() || step < 0) return -1;
  return step;
}

void sync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

void delete_tree(const fs::path& p) {
  std::error_code ec;
  fs::remove_all(p, ec);
  if (ec) throw_user_error(p.string(), "", "cannot delete: " + ec.message(), "check the folder's permissions");
}

}  // namespace

std::vector<std::pair<int64_t, std::string>> list_checkpoints(const std::string& dir) {
  std::vector<std::pair<int64_t, std::string>> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const int64_t step = checkpoint_step(e.path().filename().string());
    if (step >= 0 && e.is_directory() && fs::exists(e.path() / "manifest.json"))
      out.emplace_back(step, e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string find_resume_checkpoint(const std::string& path) {
  if (!fs::is_directory(path))
    throw_user_error(path, "", "not a folder",
                     "pass the --save folder of the run to resume, or one of its checkpoints");
  if (fs::exists(fs::path(path) / "manifest.json")) return path;
  auto all = list_checkpoints(path);
  if (all.empty())
    throw_user_error(path, "", "holds no complete checkpoint (no checkpoint-STEP/ with a manifest.json)",
                     "start a new run with --save (and --overwrite to reuse this folder)");
  return all.back().second;
}

RunDirectory::RunDirectory(const std::string& dir, bool resuming_here, bool overwrite) : dir_(dir) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
    throw_user_error(dir, "", "--save needs a folder, but this is an existing file",
                     "choose a folder name (it is created), or delete the file");
  fs::create_directories(dir, ec);
  if (ec) throw_user_error(dir, "", "cannot create the folder: " + ec.message(), "choose a writable path for --save");
  const std::string lock = dir + "/" + kLock;
  lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0)
    throw_user_error(lock, "", std::string("cannot create the lock file: ") + std::strerror(errno),
                     "choose a writable folder for --save");
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    ::close(lock_fd_);
    lock_fd_ = -1;
    throw_user_error(dir, "", "another horizon run is writing to this folder (it holds " + std::string(kLock) + ")",
                     "wait for it to finish, stop it, or choose another --save folder");
  }
  std::vector<fs::path> stale, contents;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name == kLock) continue;
    if (name.rfind(kTempPrefix, 0) == 0)
      stale.push_back(e.path());
    else
      contents.push_back(e.path());
  }
  // We hold the lock, so a temporary folder is a save that was cut short.
  for (const fs::path& p : stale) delete_tree(p);
  if (contents.empty() || resuming_here) return;
  if (!overwrite) {
    ::close(lock_fd_);
    lock_fd_ = -1;
    throw_user_error(
        dir, "", "already holds a run (" + contents.front().filename().string() + ", ...)",
        "add --resume " + dir + " to continue it, --overwrite to replace it, or choose another --save folder");
  }
  for (const fs::path& p : contents) {
    const std::string name = p.filename().string();
    if (checkpoint_step(name) >= 0 || name == "metrics.jsonl") delete_tree(p);
  }
}

RunDirectory::~RunDirectory() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

std::string RunDirectory::save(int64_t step, const std::function<void(const std::string&)>& write, int64_t keep) {
  const std::string name = kPrefix + std::to_string(step);
  const fs::path temp = fs::path(dir_) / (kTempPrefix + std::to_string(step));
  const fs::path final_path = fs::path(dir_) / name;
  delete_tree(temp);
  try {
    write(temp.string());
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(temp, ignored);
    throw;
  }
  sync_path(temp.string());
  // A checkpoint of this step already there (a resumed run saving the step it
  // resumed from) is moved aside first: rename cannot replace a folder.
  const fs::path old = fs::path(dir_) / (std::string(kTempPrefix) + "old-" + std::to_string(step));
  if (fs::exists(final_path)) {
    delete_tree(old);
    fs::rename(final_path, old);
  }
  std::error_code ec;
  fs::rename(temp, final_path, ec);
  if (ec) throw_user_error(final_path.string(), "", "cannot rename the finished checkpoint: " + ec.message(), "");
  sync_path(dir_);
  delete_tree(old);
  if (keep > 0) {
    auto all = list_checkpoints(dir_);
    for (size_t i = 0; i + static_cast<size_t>(keep) < all.size(); ++i) delete_tree(all[i].second);
  }
  return final_path.string();
}

void RunDirectory::truncate_metrics(int64_t bytes) {
  std::error_code ec;
  const std::string path = metrics_path();
  if (!fs::exists(path, ec)) return;
  const auto size = static_cast<int64_t>(fs::file_size(path, ec));
  if (!ec && size > bytes) fs::resize_file(path, static_cast<uintmax_t>(bytes), ec);
  if (ec) throw_user_error(path, "", "cannot cut the metrics back to the checkpoint: " + ec.message(), "");
}

}  // namespace horizon::cli
