#include "support/error.h"

namespace horizon {

std::string format_user_error(const std::string& file, const std::string& place, const std::string& problem,
                              const std::string& fix) {
  std::string out;
  if (!file.empty()) out += file + ": ";
  if (!place.empty()) out += place + ": ";
  out += problem;
  if (!fix.empty()) out += "; " + fix;
  return out;
}

void throw_user_error(const std::string& file, const std::string& place, const std::string& problem,
                      const std::string& fix) {
  throw UserError(format_user_error(file, place, problem, fix));
}

}  // namespace horizon
