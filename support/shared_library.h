// A shared library opened at run time (dlopen) rather than at process start:
// the CUDA libraries Horizon calls (cuBLASLt is 541 MB, NVRTC 109 MB) cost
// every process ~0.1-0.5 s and ~240 MB of mappings when linked, although most
// runs (the CPU path, `--help`, `plan`, most tests) never call them.
#pragma once

#include <string>
#include <vector>

namespace horizon {

class SharedLibrary {
 public:
  /// Opens the first of `candidates` (sonames or paths) that loads; UserError
  /// naming them, dlerror's reason and `fix` when none does.
  SharedLibrary(const std::vector<std::string>& candidates, const std::string& fix);
  ~SharedLibrary();
  SharedLibrary(const SharedLibrary&) = delete;
  SharedLibrary& operator=(const SharedLibrary&) = delete;

  /// The address of `name`; UserError naming the library when it lacks it
  /// (an older version than the one Horizon was built against).
  void* symbol(const char* name) const;
  const std::string& path() const { return path_; }

 private:
  void* handle_ = nullptr;
  std::string path_;
};

/// `fn` set to the library's function `name`.
template <typename F>
void resolve(const SharedLibrary& lib, const char* name, F*& fn) {
  fn = reinterpret_cast<F*>(lib.symbol(name));
}

}  // namespace horizon
