// The on-disk cache of compiled cubins. An entry is keyed by everything that
// decides its bytes (the source, the architecture, the NVRTC version and the
// options): the file name is a hash of that key and the file holds the key
// itself, compared in full on load, so a hash collision or a truncated file
// is a miss, never a wrong kernel. Writes go to a uniquely named temporary
// file renamed into place, so concurrent processes and crashes leave either
// no entry or a whole one.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace horizon::codegen::cuda {

class CubinCache {
 public:
  /// `dir` is created on the first store; an empty `dir` disables the cache.
  explicit CubinCache(std::string dir);

  /// $HORIZON_CACHE_DIR/cubin, else $XDG_CACHE_HOME/horizon/cubin, else
  /// ~/.cache/horizon/cubin; "" when none of those variables is set.
  static std::string default_dir();

  /// The cubin stored under `key`, if an intact entry exists.
  std::optional<std::vector<char>> load(const std::string& key) const;
  /// Stores `cubin` under `key`. A cache that cannot be written (read-only
  /// home, full disk) is not an error for the caller: returns false.
  bool store(const std::string& key, const std::vector<char>& cubin) const;

  /// The file an entry for `key` lives in.
  std::string path_for(const std::string& key) const;
  const std::string& dir() const { return dir_; }
  bool enabled() const { return !dir_.empty(); }

 private:
  std::string dir_;
};

}  // namespace horizon::codegen::cuda
