#include "frontend/json_keys.h"

#include <algorithm>
#include <vector>

#include "support/error.h"

namespace horizon::frontend {
namespace {

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

std::string nearest_key(std::string_view key, std::initializer_list<std::string_view> known) {
  std::string_view best;
  size_t best_distance = static_cast<size_t>(-1);
  for (std::string_view k : known)
    if (const size_t d = edit_distance(key.substr(0, 64), k); d < best_distance) best = k, best_distance = d;
  return std::string(best);
}

void check_known_keys(const Json& object, std::initializer_list<std::string_view> known, const std::string& file,
                      const std::string& at) {
  if (!object.is_object()) return;
  for (const auto& [key, value] : object.items()) {
    (void)value;
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    std::string list;
    for (std::string_view k : known) list += (list.empty() ? "" : ", ") + std::string(k);
    throw_user_error(file, at.empty() ? key : at + "." + key,
                     "unknown key; did you mean \"" + nearest_key(key, known) + "\"?",
                     "the known keys here are " + list);
  }
}

}  // namespace horizon::frontend
