#include "support/shared_library.h"

#include <dlfcn.h>

#include "support/error.h"

namespace horizon {

SharedLibrary::SharedLibrary(const std::vector<std::string>& candidates, const std::string& fix) {
  std::string reasons;
  for (const std::string& c : candidates) {
    // RTLD_LOCAL: its symbols stay out of the global namespace (our stubs of
    // the same names must not resolve to themselves, nor theirs to ours).
    handle_ = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle_) {
      path_ = c;
      return;
    }
    const char* why = dlerror();
    reasons += (reasons.empty() ? "" : "; ") + std::string(why ? why : c + ": not found");
  }
  throw UserError("cannot load " + candidates.front() + " (" + reasons + "); " + fix);
}

SharedLibrary::~SharedLibrary() {
  if (handle_) dlclose(handle_);
}

void* SharedLibrary::symbol(const char* name) const {
  dlerror();
  void* p = dlsym(handle_, name);
  if (!p)
    throw UserError(path_ + " has no " + name + ": it is older than the CUDA toolkit Horizon was built with; " +
                    "install a matching CUDA toolkit");
  return p;
}

}  // namespace horizon
