// Normalizers (see normalizers.h). Unicode normalization comes from utf8proc
// (Debian libutf8proc-dev): a small C library with a static archive, so the
// engine gains no runtime dependency, where ICU would add ~30 MB of data
// libraries for the one function we need.
#include "data/normalizers.h"

#include <utf8proc.h>

#include <cstdlib>
#include <vector>

#include "data/onig_regex.h"
#include "data/tokenizer_json.h"
#include "support/error.h"

namespace horizon::data {

namespace {

bool is_ascii(const std::string& text) {
  for (unsigned char c : text)
    if (c >= 0x80) return false;
  return true;
}

class UnicodeNormalizer final : public Normalizer {
 public:
  explicit UnicodeNormalizer(int options) : options_(options) {}
  void normalize(std::string& text) const override {
    if (is_ascii(text)) return;  // ASCII is invariant under all four forms
    utf8proc_uint8_t* result = nullptr;
    const utf8proc_ssize_t n =
        utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()), static_cast<utf8proc_ssize_t>(text.size()),
                     &result, static_cast<utf8proc_option_t>(options_));
    if (n < 0) throw UserError(std::string("Unicode normalization failed: ") + utf8proc_errmsg(n));
    text.assign(reinterpret_cast<const char*>(result), static_cast<size_t>(n));
    std::free(result);
  }

 private:
  int options_;
};

class PrependNormalizer final : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prefix_);  // the library leaves empty pieces alone
  }

 private:
  std::string prefix_;
};

class LiteralReplaceNormalizer final : public Normalizer {
 public:
  LiteralReplaceNormalizer(std::string from, std::string to) : from_(std::move(from)), to_(std::move(to)) {}
  void normalize(std::string& text) const override {
    if (text.find(from_) == std::string::npos) return;
    std::string out;
    out.reserve(text.size() + text.size() / 2);
    size_t at = 0;
    for (size_t hit; (hit = text.find(from_, at)) != std::string::npos; at = hit + from_.size()) {
      out.append(text, at, hit - at);
      out += to_;
    }
    out.append(text, at, std::string::npos);
    text.swap(out);
  }

 private:
  std::string from_, to_;
};

class RegexReplaceNormalizer final : public Normalizer {
 public:
  RegexReplaceNormalizer(const std::string& pattern, std::string to, const JsonPlace& place)
      : regex_(pattern, place), to_(std::move(to)) {}
  void normalize(std::string& text) const override {
    std::vector<std::pair<size_t, size_t>> matches;
    regex_.find_all(text, matches);
    if (matches.empty()) return;
    std::string out;
    size_t at = 0;
    for (auto [start, stop] : matches) {
      out.append(text, at, start - at);
      out += to_;
      at = stop;
    }
    out.append(text, at, std::string::npos);
    text.swap(out);
  }

 private:
  OnigPattern regex_;
  std::string to_;
};

class SequenceNormalizer final : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> parts) : parts_(std::move(parts)) {}
  void normalize(std::string& text) const override {
    for (const auto& part : parts_) part->normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

}  // namespace

std::unique_ptr<Normalizer> parse_normalizer(const JsonPlace& place) {
  if (place.is_null()) return nullptr;
  const std::string type = place.type("NFC, NFD, NFKC, NFKD, Prepend, Replace, Sequence");
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(UTF8PROC_STABLE | UTF8PROC_COMPOSE);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE);
  if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
  if (type == "NFKD")
    return std::make_unique<UnicodeNormalizer>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT);
  if (type == "Prepend") return std::make_unique<PrependNormalizer>(place["prepend"].string());
  if (type == "Replace") {
    const JsonPlace pattern = place["pattern"];
    const std::string content = place["content"].string();
    if (pattern.has("String")) {
      const std::string from = pattern["String"].string();
      if (from.empty()) pattern["String"].fail("empty pattern", "give the text to replace");
      return std::make_unique<LiteralReplaceNormalizer>(from, content);
    }
    if (pattern.has("Regex"))
      return std::make_unique<RegexReplaceNormalizer>(pattern["Regex"].string(), content, pattern["Regex"]);
    pattern.fail("expected {\"String\": ...} or {\"Regex\": ...}");
  }
  // Sequence
  const JsonPlace list = place["normalizers"];
  std::vector<std::unique_ptr<Normalizer>> parts;
  for (size_t i = 0; i < list.size(); ++i) {
    auto part = parse_normalizer(list[i]);
    if (!part) list[i].fail("expected a normalizer, found null");
    parts.push_back(std::move(part));
  }
  return std::make_unique<SequenceNormalizer>(std::move(parts));
}

}  // namespace horizon::data
