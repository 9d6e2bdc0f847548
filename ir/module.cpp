#include "ir/module.h"

#include <stdexcept>

#include "support/numbers.h"

namespace horizon::ir {

std::string attr_str(const AttrValue& v) {
  if (auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (auto* d = std::get_if<double>(&v)) return format_double(*d);
  return "\"" + std::get<std::string>(v) + "\"";
}

double attr_number(const Attrs& attrs, const std::string& key) {
  const AttrValue& v = attrs.at(key);
  if (auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
  if (auto* d = std::get_if<double>(&v)) return *d;
  throw std::out_of_range("attribute " + key + " is not a number");
}

int64_t attr_int(const Attrs& attrs, const std::string& key) {
  const AttrValue& v = attrs.at(key);
  if (auto* i = std::get_if<int64_t>(&v)) return *i;
  throw std::out_of_range("attribute " + key + " is not an integer");
}

double attr_number_or(const Attrs& attrs, const std::string& key, double fallback) {
  return attrs.count(key) ? attr_number(attrs, key) : fallback;
}

std::string Init::str() const {
  switch (kind) {
    case Kind::normal:
      return "normal(" + format_double(std) + ")";
    case Kind::ones:
      return "ones";
    case Kind::zeros:
      return "zeros";
  }
  return "?";
}

int Stage::find_value(const std::string& n) const {
  for (size_t i = 0; i < values.size(); ++i)
    if (values[i].name == n) return static_cast<int>(i);
  return -1;
}

int Stage::add_value(const std::string& n, TensorType type, ValueKind kind) {
  values.push_back(Value{n, std::move(type), kind});
  return static_cast<int>(values.size()) - 1;
}

std::string Stage::checkpoint_name(const Param& p, int64_t instance) const {
  std::string s = p.checkpoint_name;
  auto pos = s.find("{i}");
  if (pos != std::string::npos) s.replace(pos, 3, std::to_string(instance));
  return s;
}

int64_t Stage::param_elements() const {
  int64_t n = 0;
  for (const Param& p : params) n += values[p.value].type.static_elements();
  return n;
}

void Stage::drop_undefined_results() {
  std::vector<bool> keep(values.size(), false);
  for (size_t v = 0; v < values.size(); ++v) keep[v] = values[v].kind != ValueKind::result;
  for (const Instr& in : instrs)
    for (int r : in.results) keep[r] = true;
  std::vector<int> remap(values.size(), -1);
  std::vector<Value> kept;
  for (size_t v = 0; v < values.size(); ++v) {
    if (!keep[v]) continue;
    remap[v] = static_cast<int>(kept.size());
    kept.push_back(std::move(values[v]));
  }
  auto fix = [&](int& v) { v = remap[v]; };
  for (int& v : inputs) fix(v);
  for (Param& p : params) fix(p.value);
  for (Instr& in : instrs) {
    for (int& v : in.operands) fix(v);
    for (int& v : in.results) fix(v);
  }
  for (int& v : outputs) fix(v);
  for (ParamGrad& g : grads) fix(g.value);
  values = std::move(kept);
}

const Stage* Module::find_stage(const std::string& n) const {
  for (const Stage& s : stages)
    if (s.name == n) return &s;
  return nullptr;
}

Stage* Module::find_stage(const std::string& n) {
  for (Stage& s : stages)
    if (s.name == n) return &s;
  return nullptr;
}

const AttrValue* Module::config_value(const std::string& key) const {
  for (const auto& [k, v] : config)
    if (k == key) return &v;
  return nullptr;
}

double Module::config_number(const std::string& key, double fallback) const {
  const AttrValue* v = config_value(key);
  if (!v) return fallback;
  if (auto* i = std::get_if<int64_t>(v)) return static_cast<double>(*i);
  if (auto* d = std::get_if<double>(v)) return *d;
  return fallback;
}

bool is_derived_stage(const std::string& stage) { return stage.find('.') != std::string::npos; }

bool is_backward_stage(const std::string& stage) {
  return stage.size() > 4 && stage.compare(stage.size() - 4, 4, ".bwd") == 0;
}

std::string base_stage_name(const std::string& stage) { return stage.substr(0, stage.find('.')); }

}  // namespace horizon::ir
