#include "codegen/cuda/cubin_cache.h"

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace horizon::codegen::cuda {
namespace {

constexpr char kMagic[8] = {'H', 'Z', 'C', 'U', 'B', 'I', 'N', '1'};

/// FNV-1a, 64 bits: only names the file; the stored key settles identity.
uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

bool get_u64(std::istream& in, uint64_t& v) {
  unsigned char b[8];
  if (!in.read(reinterpret_cast<char*>(b), 8)) return false;
  v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(b[i]) << (8 * i);
  return true;
}

}  // namespace

CubinCache::CubinCache(std::string dir) : dir_(std::move(dir)) {}

std::string CubinCache::default_dir() {
  if (const char* d = std::getenv("HORIZON_CACHE_DIR"); d && *d) return std::string(d) + "/cubin";
  if (const char* d = std::getenv("XDG_CACHE_HOME"); d && *d) return std::string(d) + "/horizon/cubin";
  if (const char* d = std::getenv("HOME"); d && *d) return std::string(d) + "/.cache/horizon/cubin";
  return "";
}

std::string CubinCache::path_for(const std::string& key) const {
  char name[32];
  std::snprintf(name, sizeof name, "%016llx.cubin", static_cast<unsigned long long>(fnv1a(key)));
  return dir_ + "/" + name;
}

std::optional<std::vector<char>> CubinCache::load(const std::string& key) const {
  if (!enabled()) return std::nullopt;
  std::ifstream in(path_for(key), std::ios::binary);
  if (!in) return std::nullopt;
  char magic[8];
  uint64_t key_size = 0, cubin_size = 0;
  if (!in.read(magic, 8) || !std::equal(magic, magic + 8, kMagic) || !get_u64(in, key_size) || key_size != key.size())
    return std::nullopt;
  std::string stored(key_size, '\0');
  if (!in.read(stored.data(), static_cast<std::streamsize>(key_size)) || stored != key) return std::nullopt;
  if (!get_u64(in, cubin_size) || cubin_size == 0 || cubin_size > (uint64_t{1} << 31)) return std::nullopt;
  std::vector<char> cubin(cubin_size);
  if (!in.read(cubin.data(), static_cast<std::streamsize>(cubin_size))) return std::nullopt;
  if (in.peek() != std::char_traits<char>::eof()) return std::nullopt;  // trailing bytes: not ours
  return cubin;
}

bool CubinCache::store(const std::string& key, const std::vector<char>& cubin) const {
  if (!enabled()) return false;
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return false;
  const std::string path = path_for(key);
  // Unique per process and call, so concurrent writers never share a temporary.
  static std::atomic<uint64_t> counter{0};
  const std::string tmp = path + "." + std::to_string(::getpid()) + "." + std::to_string(counter++) + ".tmp";
  std::string header(kMagic, kMagic + 8);
  put_u64(header, key.size());
  header += key;
  put_u64(header, cubin.size());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.write(cubin.data(), static_cast<std::streamsize>(cubin.size()));
    out.close();
    if (!out) {
      std::filesystem::remove(tmp, ec);
      return false;
    }
  }
  std::filesystem::rename(tmp, path, ec);
  if (!ec) return true;
  std::filesystem::remove(tmp, ec);
  return false;
}

}  // namespace horizon::codegen::cuda
