#include "cli/arguments.h"

#include <cmath>
#include <cstdlib>
#include <iostream>
#include <sstream>

#include "support/error.h"

namespace horizon::cli {

Arguments::Arguments(std::string command, std::string usage, std::string summary)
    : command_(std::move(command)), usage_(std::move(usage)), summary_(std::move(summary)) {}

void Arguments::option(const std::string& name, const std::string& meta, const std::string& help,
                       const std::string& fallback) {
  specs_.push_back({name, meta, help, fallback, false});
}

void Arguments::flag(const std::string& name, const std::string& help) { specs_.push_back({name, "", help, "", true}); }

void Arguments::positional(const std::string& name, const std::string& help, bool required) {
  positionals_.push_back({name, help, required});
}

bool Arguments::parse(const std::vector<std::string>& args) {
  size_t next_positional = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      std::cout << help();
      return false;
    }
    if (a.rfind("--", 0) == 0) {
      std::string name = a.substr(2), value;
      bool inline_value = false;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        inline_value = true;
      }
      const Spec* spec = nullptr;
      for (const Spec& s : specs_)
        if (s.name == name) spec = &s;
      if (!spec) bad("unknown option --" + name, "see 'horizon " + command_ + " --help'");
      if (spec->is_flag) {
        if (inline_value) bad("--" + name + " takes no value", "write just --" + name);
        values_[name] = "1";
        continue;
      }
      if (!inline_value) {
        if (i + 1 >= args.size()) bad("--" + name + " needs a value (" + spec->meta + ")", "");
        value = args[++i];
      }
      values_[name] = value;
      continue;
    }
    if (next_positional >= positionals_.size())
      bad("unexpected argument '" + a + "'", "see 'horizon " + command_ + " --help'");
    values_[positionals_[next_positional++].name] = a;
  }
  for (size_t p = next_positional; p < positionals_.size(); ++p)
    if (positionals_[p].required) bad("missing " + positionals_[p].name, "usage: " + usage_);
  return true;
}

std::string Arguments::help() const {
  std::ostringstream o;
  o << "usage: " << usage_ << "\n\n" << summary_ << "\n";
  if (!positionals_.empty()) {
    o << "\narguments:\n";
    for (const Positional& p : positionals_)
      o << "  " << p.name << std::string(p.name.size() < 22 ? 22 - p.name.size() : 1, ' ') << p.help << "\n";
  }
  if (!specs_.empty()) {
    o << "\noptions:\n";
    for (const Spec& s : specs_) {
      std::string left = "--" + s.name + (s.is_flag ? "" : " " + s.meta);
      o << "  " << left << std::string(left.size() < 22 ? 22 - left.size() : 1, ' ') << s.help;
      if (!s.fallback.empty()) o << " (default " << s.fallback << ")";
      o << "\n";
    }
  }
  o << "  --help                show this help\n";
  return o.str();
}

bool Arguments::has(const std::string& name) const { return values_.count(name) > 0; }

bool Arguments::declares(const std::string& name) const {
  for (const Spec& s : specs_)
    if (s.name == name) return true;
  return false;
}

std::string Arguments::get(const std::string& name) const {
  if (auto it = values_.find(name); it != values_.end()) return it->second;
  for (const Spec& s : specs_)
    if (s.name == name) return s.fallback;
  return "";
}

bool Arguments::get_flag(const std::string& name) const { return values_.count(name) > 0; }

int64_t Arguments::get_int(const std::string& name) const {
  std::string v = get(name);
  char* end = nullptr;
  long long n = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end) bad("--" + name + " must be an integer, got '" + v + "'", "");
  return n;
}

double Arguments::get_double(const std::string& name) const {
  std::string v = get(name);
  char* end = nullptr;
  double d = std::strtod(v.c_str(), &end);
  if (v.empty() || *end || !std::isfinite(d)) bad("--" + name + " must be a number, got '" + v + "'", "");
  return d;
}

double Arguments::get_bytes(const std::string& name) const {
  std::string v = get(name);
  char* end = nullptr;
  double d = std::strtod(v.c_str(), &end);
  std::string unit(end);
  if (!unit.empty() && (unit.back() == 'B' || unit.back() == 'b')) unit.pop_back();
  if (!unit.empty() && unit.back() == 'i') unit.pop_back();
  double scale = unit.empty()                 ? 1
                 : unit == "K" || unit == "k" ? 1024.0
                 : unit == "M" || unit == "m" ? 1024.0 * 1024
                 : unit == "G" || unit == "g" ? 1024.0 * 1024 * 1024
                 : unit == "T" || unit == "t" ? 1024.0 * 1024 * 1024 * 1024
                                              : -1;
  if (v.empty() || end == v.c_str() || scale < 0 || d < 0)
    bad("--" + name + " must be a size like 120G or 512M, got '" + v + "'", "");
  return d * scale;
}

void Arguments::bad(const std::string& what, const std::string& fix) const {
  throw UserError(format_user_error("horizon " + command_, "", what, fix));
}

}  // namespace horizon::cli
