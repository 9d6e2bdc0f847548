// Oniguruma wrapper (see onig_regex.h).
#include "data/onig_regex.h"

#include <oniguruma.h>

#include <mutex>

#include "data/tokenizer_json.h"
#include "data/utf8_text.h"
#include "support/error.h"

namespace horizon::data {

namespace {

void initialize_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    OnigEncoding encodings[] = {ONIG_ENCODING_UTF8};
    onig_initialize(encodings, 1);
  });
}

std::string onig_message(int code, OnigErrorInfo* info) {
  OnigUChar buffer[ONIG_MAX_ERROR_MESSAGE_LEN];
  onig_error_code_to_str(buffer, code, info);
  return reinterpret_cast<const char*>(buffer);
}

// One match region per thread: searches run concurrently in encode_batch.
struct ThreadRegion {
  OnigRegion* region = onig_region_new();
  ~ThreadRegion() { onig_region_free(region, 1); }
};

}  // namespace

OnigPattern::OnigPattern(const std::string& pattern, const JsonPlace& place) : pattern_(pattern) {
  initialize_once();
  OnigRegex regex = nullptr;
  OnigErrorInfo info;
  const auto* begin = reinterpret_cast<const OnigUChar*>(pattern.data());
  const int code =
      onig_new(&regex, begin, begin + pattern.size(), ONIG_OPTION_NONE, ONIG_ENCODING_UTF8, ONIG_SYNTAX_RUBY, &info);
  if (code != ONIG_NORMAL) place.fail("invalid regex " + pattern + ": " + onig_message(code, &info));
  regex_ = regex;
}

OnigPattern::~OnigPattern() {
  if (regex_) onig_free(static_cast<OnigRegex>(regex_));
}

std::string OnigPattern::escape(std::string_view literal) {
  std::string out;
  for (char c : literal) {
    if (std::string_view("\\.+*?()|[]{}^$#&-~").find(c) != std::string_view::npos) out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

void OnigPattern::find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const {
  thread_local ThreadRegion thread_region;
  OnigRegion* region = thread_region.region;
  const auto* begin = reinterpret_cast<const OnigUChar*>(text.data());
  const auto* end = begin + text.size();
  size_t search_from = 0;
  bool have_previous = false;
  size_t previous_end = 0;
  while (search_from <= text.size()) {
    const int found =
        onig_search(static_cast<OnigRegex>(regex_), begin, end, begin + search_from, end, region, ONIG_OPTION_NONE);
    if (found == ONIG_MISMATCH) break;
    if (found < 0)
      throw UserError("tokenizer regex " + pattern_ + ": the regex engine gave up on a " + std::to_string(text.size()) +
                      "-byte piece of text (" + onig_message(found, nullptr) +
                      "); split the text into smaller documents");
    const auto start = static_cast<size_t>(region->beg[0]);
    const auto stop = static_cast<size_t>(region->end[0]);
    if (start == stop && have_previous && previous_end == stop) {
      // The library never yields an empty match touching the previous one.
      if (search_from >= text.size()) break;
      search_from += utf8::char_length(static_cast<unsigned char>(text[search_from]));
      continue;
    }
    out.emplace_back(start, stop);
    have_previous = true;
    previous_end = stop;
    if (stop == text.size()) {
      if (start == stop) break;
      search_from = stop;  // one more search may find an empty match at the end
      continue;
    }
    search_from = stop;
  }
}

}  // namespace horizon::data
