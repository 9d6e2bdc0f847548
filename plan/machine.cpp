// Machine descriptions from JSON. Read with nlohmann directly (plan/ sits
// below frontend/ in the pipeline and does not include it); every field is
// checked so a typo in a rate is an error naming the field, never a silent
// default that skews every prediction.
#include "plan/machine.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/error.h"

namespace horizon::plan {
namespace {

using Json = nlohmann::json;

struct Field {
  const char* key;
  double Machine::*value;
  bool is_size;           // bytes: a number or a string with a unit
  bool optional = false;  // rates with a fallback (0: see Machine) and the links between GPUs (one GPU: none)
};

const Field kFields[] = {
    {"h2d_gbps", &Machine::h2d_gbps, false},
    {"d2h_gbps", &Machine::d2h_gbps, false},
    {"bidir_gbps", &Machine::bidir_gbps, false},
    {"gemm_tflops", &Machine::gemm_tflops, false},
    {"attention_tflops", &Machine::attention_tflops, false, true},
    {"attention_grad_tflops", &Machine::attention_grad_tflops, false, true},
    {"elementwise_gbps", &Machine::elementwise_gbps, false},
    {"cpu_adamw_gparams", &Machine::cpu_adamw_gparams, false},
    {"cpu_adamw_8bit_gparams", &Machine::cpu_adamw_8bit_gparams, false, true},
    {"host_memory_gbps", &Machine::host_memory_gbps, false},
    {"host_bytes", &Machine::host_bytes, true},
    {"gpu_bytes", &Machine::gpu_bytes, true},
    {"launch_overhead_us", &Machine::launch_overhead_us, false},
    {"gpu_link_gbps", &Machine::gpu_link_gbps, false, true},
    {"network_gbps", &Machine::network_gbps, false, true},
};

// "125 GiB" -> 125 * 2^30, "80 GB" -> 80e9, "1.5T" -> 1.5 * 2^40 (a bare
// letter means the binary unit, as on the command line). Negative if malformed.
double parse_size(const std::string& s) {
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str()) return -1;
  std::string unit(end);
  while (!unit.empty() && unit.front() == ' ') unit.erase(unit.begin());
  if (unit.empty() || unit == "B") return v;
  const std::string prefixes = "KMGT";
  size_t p = prefixes.find(static_cast<char>(std::toupper(static_cast<unsigned char>(unit[0]))));
  if (p == std::string::npos) return -1;
  std::string rest = unit.substr(1);
  double binary = std::pow(1024.0, static_cast<double>(p + 1)), decimal = std::pow(1000.0, static_cast<double>(p + 1));
  if (rest.empty() || rest == "i" || rest == "iB") return v * binary;
  if (rest == "B") return v * decimal;
  return -1;
}

}  // namespace

Machine default_machine() {
  Machine m;
  m.name = "h100-pcie5 (built-in)";
  m.cpu_adamw_8bit_gparams = 8.0;
  m.host_bytes = 125.0 * (1ull << 30);
  m.gpu_bytes = 80e9;
  m.gpu_link_gbps = 55;  // H100 PCIe cards without an NVLink bridge talk over PCIe Gen5
  m.network_gbps = 50;   // one 400 Gb/s NIC
  return m;
}

Machine parse_machine(const std::string& text, const std::string& file) {
  Json doc;
  try {
    doc = Json::parse(text);
  } catch (const Json::parse_error& e) {
    throw_user_error(file, "", std::string("not valid JSON: ") + e.what(), "fix the syntax");
  }
  if (!doc.is_object()) throw_user_error(file, "", "a machine description must be a JSON object");
  Machine m;
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const std::string& key = it.key();
    if (key == "notes") continue;  // free text documenting where the numbers come from
    if (key == "name") {
      if (!it->is_string()) throw_user_error(file, "\"name\"", "must be a string");
      m.name = it->get<std::string>();
      continue;
    }
    const Field* field = nullptr;
    for (const Field& f : kFields)
      if (key == f.key) field = &f;
    if (!field) {
      std::string known = "name, notes";
      for (const Field& f : kFields) known += std::string(", ") + f.key;
      throw_user_error(file, "\"" + key + "\"", "unknown field", "fields are " + known);
    }
    double v = -1;
    if (it->is_number())
      v = it->get<double>();
    else if (field->is_size && it->is_string())
      v = parse_size(it->get<std::string>());
    if (!(v > 0) || !std::isfinite(v))
      throw_user_error(file, "\"" + key + "\"",
                       "must be a positive number" + std::string(field->is_size ? " or a size like \"125 GiB\"" : ""),
                       "got " + it->dump());
    m.*(field->value) = v;
  }
  for (const Field& f : kFields)
    if (!f.optional && !doc.contains(f.key))
      throw_user_error(file, "\"" + std::string(f.key) + "\"", "missing field", "every rate and size is required");
  if (m.name.empty()) m.name = file;
  return m;
}

Machine load_machine(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_user_error(path, "", "cannot read the machine description", "check the path (see machines/*.json)");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_machine(text.str(), path);
}

}  // namespace horizon::plan
