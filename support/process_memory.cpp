#include "support/process_memory.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace horizon {
namespace {

int64_t proc_kib(const char* file, const char* key) {
  std::FILE* f = std::fopen(file, "r");
  if (!f) return 0;
  char line[256];
  int64_t kib = 0;
  size_t n = std::strlen(key);
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, key, n) == 0) {
      kib = std::atoll(line + n);
      break;
    }
  std::fclose(f);
  return kib;
}

}  // namespace

int64_t current_rss_bytes() { return proc_kib("/proc/self/status", "VmRSS:") * 1024; }
int64_t peak_rss_bytes() { return proc_kib("/proc/self/status", "VmHWM:") * 1024; }
int64_t available_memory_bytes() { return proc_kib("/proc/meminfo", "MemAvailable:") * 1024; }

}  // namespace horizon
