// Errors that reach the user. A UserError is caused by input (a model file, a
// flag, a data path) and carries a message that names the input, the place in
// it and the fix; the CLI prints it and exits 1. Anything else is our bug
// (exit 2).
#pragma once

#include <stdexcept>
#include <string>

namespace horizon {

/// An error caused by user input. `what()` is the whole one-line message.
class UserError : public std::runtime_error {
 public:
  explicit UserError(const std::string& message) : std::runtime_error(message) {}
};

/// "FILE: PLACE: PROBLEM; FIX" with empty parts left out.
std::string format_user_error(const std::string& file, const std::string& place, const std::string& problem,
                              const std::string& fix = "");

[[noreturn]] void throw_user_error(const std::string& file, const std::string& place, const std::string& problem,
                                   const std::string& fix = "");

}  // namespace horizon
