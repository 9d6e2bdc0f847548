#include "cli/checkpoint_manifest.h"

#include <filesystem>

#include "frontend/json_file.h"
#include "support/atomic_file.h"
#include "support/crc32c.h"
#include "support/error.h"

namespace horizon::cli {
namespace {

constexpr const char* kFormat = "horizon-checkpoint";

uint32_t parse_crc(const std::string& path, const std::string& file, const std::string& hex) {
  if (hex.size() != 8 || hex.find_first_not_of("0123456789abcdef") != std::string::npos)
    throw_user_error(path, "files." + file + ".crc32c", "'" + hex + "' is not 8 lowercase hex digits",
                     "the manifest is damaged; resume from another checkpoint");
  return static_cast<uint32_t>(std::stoul(hex, nullptr, 16));
}

}  // namespace

void write_manifest(const std::string& dir, int64_t step, const std::vector<std::string>& files) {
  frontend::Json j;
  j["format"] = kFormat;
  j["version"] = 1;
  j["step"] = step;
  j["checksum"] = "crc32c";
  frontend::Json list = frontend::Json::object();
  for (const std::string& f : files) {
    uint64_t bytes = 0;
    const uint32_t crc = crc32c_file(dir + "/" + f, &bytes);
    list[f] = {{"bytes", bytes}, {"crc32c", crc32c_hex(crc)}};
  }
  j["files"] = list;
  AtomicFileWriter out(dir + "/manifest.json", "checkpoint manifest");
  out.write(j.dump(2) + "\n");
  out.commit();
}

Manifest read_manifest(const std::string& dir) {
  const std::string path = dir + "/manifest.json";
  if (!std::filesystem::exists(path))
    throw_user_error(dir, "", "no manifest.json: the checkpoint is incomplete (its save was cut short)",
                     "resume from a complete checkpoint");
  const frontend::Json j = frontend::parse_json_file(path);
  auto fail = [&](const std::string& key, const std::string& problem) {
    throw_user_error(path, key, problem, "the manifest is damaged; resume from another checkpoint");
  };
  if (!j.is_object() || !j.contains("format") || !j["format"].is_string() || j["format"].get<std::string>() != kFormat)
    fail("format", "expected \"" + std::string(kFormat) + "\"");
  if (!j.contains("step") || !j["step"].is_number_integer() || j["step"].get<int64_t>() < 0)
    fail("step", "expected a non-negative integer");
  if (!j.contains("files") || !j["files"].is_object() || j["files"].empty())
    fail("files", "expected an object of files");
  Manifest m;
  m.step = j["step"].get<int64_t>();
  for (const auto& [name, e] : j["files"].items()) {
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
      fail("files", "'" + name + "' is not a file name within the checkpoint");
    if (!e.is_object() || !e.contains("bytes") || !e["bytes"].is_number_unsigned() || !e.contains("crc32c") ||
        !e["crc32c"].is_string())
      fail("files." + name, "expected {\"bytes\": N, \"crc32c\": \"8 hex digits\"}");
    m.files.push_back({name, e["bytes"].get<uint64_t>(), parse_crc(path, name, e["crc32c"].get<std::string>())});
  }
  return m;
}

Manifest verify_manifest(const std::string& dir) {
  Manifest m = read_manifest(dir);
  for (const ManifestEntry& e : m.files) {
    const std::string path = dir + "/" + e.file;
    std::error_code ec;
    const uint64_t size = std::filesystem::file_size(path, ec);
    if (ec) throw_user_error(path, "", "listed in manifest.json but missing", "resume from another checkpoint");
    if (size != e.bytes)
      throw_user_error(path, "", std::to_string(size) + " bytes, but manifest.json says " + std::to_string(e.bytes),
                       "the file was changed or truncated; resume from another checkpoint");
    const uint32_t crc = crc32c_file(path);
    if (crc != e.crc32c)
      throw_user_error(path, "",
                       "CRC-32C " + crc32c_hex(crc) + " does not match manifest.json's " + crc32c_hex(e.crc32c),
                       "the file is damaged; resume from another checkpoint");
  }
  return m;
}

}  // namespace horizon::cli
