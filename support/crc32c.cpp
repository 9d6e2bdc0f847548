#include "support/crc32c.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "support/error.h"

namespace horizon {
namespace {

constexpr uint32_t kPolynomial = 0x82f63b78u;  // Castagnoli, reflected

std::array<uint32_t, 256> make_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPolynomial : c >> 1;
    t[i] = c;
  }
  return t;
}

uint32_t crc32c_table(uint32_t crc, const uint8_t* p, size_t n) {
  static const std::array<uint32_t, 256> table = make_table();
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t crc32c_sse42(uint32_t crc, const uint8_t* p, size_t n) {
  uint64_t c = crc;
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    c = __builtin_ia32_crc32di(c, word);
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  for (; n > 0; --n, ++p) c32 = __builtin_ia32_crc32qi(c32, *p);
  return c32;
}
#endif

}  // namespace

uint32_t crc32c(uint32_t crc, const void* data, size_t bytes) {
  const auto* p = static_cast<const uint8_t*>(data);
  crc = ~crc;
#if defined(__x86_64__)
  static const bool hardware = __builtin_cpu_supports("sse4.2");
  crc = hardware ? crc32c_sse42(crc, p, bytes) : crc32c_table(crc, p, bytes);
#else
  crc = crc32c_table(crc, p, bytes);
#endif
  return ~crc;
}

uint32_t crc32c_file(const std::string& path, uint64_t* size) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_user_error(path, "", std::string("cannot open: ") + std::strerror(errno), "");
  // A block of at most 8 MiB, no larger than the file: small files (manifests,
  // configs) do not pay for a large zeroed buffer on every call.
  struct stat st {};
  const size_t block = ::fstat(fd, &st) == 0 && st.st_size >= 0
                           ? std::clamp<size_t>(static_cast<size_t>(st.st_size) + 1, 4096, size_t{8} << 20)
                           : size_t{8} << 20;
  std::unique_ptr<char[]> buffer(new char[block]);
  uint32_t crc = 0;
  uint64_t total = 0;
  for (;;) {
    const ssize_t got = ::read(fd, buffer.get(), block);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      const int err = errno;
      ::close(fd);
      throw_user_error(path, "", std::string("cannot read: ") + std::strerror(err), "");
    }
    if (got == 0) break;
    crc = crc32c(crc, buffer.get(), static_cast<size_t>(got));
    total += static_cast<uint64_t>(got);
  }
  ::close(fd);
  if (size) *size = total;
  return crc;
}

std::string crc32c_hex(uint32_t crc) {
  char text[9];
  std::snprintf(text, sizeof text, "%08x", crc);
  return text;
}

}  // namespace horizon
