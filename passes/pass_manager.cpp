#include "passes/pass_manager.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "support/error.h"

namespace horizon::passes {
namespace {

#ifdef NDEBUG
constexpr bool kDebugBuild = false;
#else
constexpr bool kDebugBuild = true;
#endif

}  // namespace

bool PassOptions::verify_each_pass_default() {
  const char* env = std::getenv("HORIZON_VERIFY_IR");
  return kDebugBuild || (env && std::strcmp(env, "1") == 0);
}

void check_pass_name(const std::string& name, const std::vector<std::string>& names) {
  if (name.empty()) return;
  std::string list;
  for (const std::string& n : names) {
    if (n == name) return;
    list += (list.empty() ? "" : ", ") + n;
  }
  throw UserError("unknown pass '" + name + "'; passes are: " + list);
}

PassInstrumentation::PassInstrumentation(std::string pipeline, std::vector<std::string> names,
                                         const PassOptions& options)
    : pipeline_(std::move(pipeline)), options_(options), log_(options.log ? options.log : &std::cerr) {
  check_pass_name(options.stop_after, names);
  dump_ = options.dump_ir;
  if (dump_.empty() && std::getenv("HORIZON_DUMP_IR")) dump_ = std::getenv("HORIZON_DUMP_IR");
}

bool PassInstrumentation::run(const std::string& name, const std::function<bool()>& pass,
                              const std::function<std::string()>& print, const std::function<void()>& verify) {
  const auto start = std::chrono::steady_clock::now();
  const bool changed = pass();
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  // An unchanged IR was verified after the pass that last changed it.
  if (options_.verify_each && changed) verify();
  if (options_.time_passes) {
    char line[200];
    std::snprintf(line, sizeof line, "pass %-22s %9.3f ms  %s\n", name.c_str(), ms, changed ? "changed" : "unchanged");
    *log_ << line;
  }
  if (dump_ == name || (dump_ == "all" && changed)) {
    *log_ << "// after " << name << " (" << pipeline_ << ")\n" << print();
  } else if (dump_ == "all") {
    *log_ << "// after " << name << " (" << pipeline_ << "): unchanged\n";
  }
  return options_.stop_after == name;
}

}  // namespace horizon::passes
