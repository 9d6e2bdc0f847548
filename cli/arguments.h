// Command-line options of one `horizon` subcommand: declared once with their
// help text, so parsing, validation and `--help` cannot drift apart.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace horizon::cli {

class Arguments {
 public:
  Arguments(std::string command, std::string usage, std::string summary);

  /// An option taking a value (`--name VALUE` or `--name=VALUE`).
  void option(const std::string& name, const std::string& meta, const std::string& help,
              const std::string& fallback = "");
  /// A boolean flag (`--name`).
  void flag(const std::string& name, const std::string& help);
  /// A positional argument, in order.
  void positional(const std::string& name, const std::string& help, bool required = true);

  /// Parses argv (after the subcommand). Returns false if --help was asked
  /// (help is then printed to stdout). Throws UserError on bad options.
  bool parse(const std::vector<std::string>& args);

  std::string help() const;

  bool has(const std::string& name) const;
  /// Whether an option or flag of this name was declared.
  bool declares(const std::string& name) const;
  std::string get(const std::string& name) const;
  bool get_flag(const std::string& name) const;
  int64_t get_int(const std::string& name) const;
  double get_double(const std::string& name) const;
  /// "120G", "512M", "80GB", "1T" or a plain byte count.
  double get_bytes(const std::string& name) const;

 private:
  struct Spec {
    std::string name, meta, help, fallback;
    bool is_flag = false;
  };
  struct Positional {
    std::string name, help;
    bool required;
  };
  [[noreturn]] void bad(const std::string& what, const std::string& fix) const;

  std::string command_, usage_, summary_;
  std::vector<Spec> specs_;
  std::vector<Positional> positionals_;
  std::map<std::string, std::string> values_;
};

}  // namespace horizon::cli
