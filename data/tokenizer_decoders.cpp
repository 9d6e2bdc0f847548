// Decoders (see tokenizer_decoders.h); semantics from the `tokenizers`
// library's decoders/*.rs and pre_tokenizers/{byte_level,metaspace}.rs.
#include "data/tokenizer_decoders.h"

#include <unordered_map>

#include "data/normalizers.h"
#include "data/pre_tokenizers.h"
#include "data/tokenizer_json.h"
#include "data/utf8_text.h"

namespace horizon::data {

namespace {

constexpr const char* kReplacementChar = "\xEF\xBF\xBD";

class ByteLevelDecoder final : public Decoder {
 public:
  ByteLevelDecoder() {
    for (int b = 0; b < 256; ++b)
      char_to_byte_[utf8::decode_at(byte_level_char(static_cast<unsigned char>(b)), 0)] = static_cast<char>(b);
  }
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const std::string& token : tokens) {
      // A token with any character outside the byte table keeps its UTF-8 as is.
      const size_t mark = bytes.size();
      bool all_mapped = true;
      for (size_t i = 0; i < token.size() && all_mapped;) {
        auto it = char_to_byte_.find(utf8::decode_at(token, i));
        if (it == char_to_byte_.end()) {
          all_mapped = false;
        } else {
          bytes.push_back(it->second);
          i += utf8::char_length(static_cast<unsigned char>(token[i]));
        }
      }
      if (!all_mapped) {
        bytes.resize(mark);
        bytes += token;
      }
    }
    tokens.assign(1, utf8::lossy(bytes));
  }

 private:
  std::unordered_map<char32_t, char> char_to_byte_;
};

class MetaspaceDecoder final : public Decoder {
 public:
  MetaspaceDecoder(std::string replacement, bool prepends)
      : replacement_(std::move(replacement)), prepends_(prepends) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      const std::string& token = tokens[i];
      for (size_t at = 0; at < token.size();) {
        if (token.compare(at, replacement_.size(), replacement_) == 0) {
          if (!(i == 0 && prepends_)) out.push_back(' ');  // the first token loses its "▁" entirely
          at += replacement_.size();
        } else {
          out.push_back(token[at++]);
        }
      }
      tokens[i].swap(out);
    }
  }

 private:
  std::string replacement_;
  bool prepends_;
};

class ReplaceDecoder final : public Decoder {
 public:
  explicit ReplaceDecoder(std::unique_ptr<Normalizer> replace) : replace_(std::move(replace)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& token : tokens) replace_->normalize(token);
  }

 private:
  std::unique_ptr<Normalizer> replace_;  // the Replace normalizer: same JSON, same rule
};

class ByteFallbackDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string bytes;
    size_t byte_tokens = 0;
    const auto flush = [&] {
      if (byte_tokens == 0) return;
      if (utf8::is_valid(bytes)) {
        out.push_back(bytes);
      } else {
        for (size_t k = 0; k < byte_tokens; ++k) out.emplace_back(kReplacementChar);
      }
      bytes.clear();
      byte_tokens = 0;
    };
    for (std::string& token : tokens) {
      int value = -1;
      if (token.size() == 6 && token.compare(0, 3, "<0x") == 0 && token[5] == '>')
        value = parse_hex(token[3], token[4]);
      if (value >= 0) {
        bytes.push_back(static_cast<char>(value));
        ++byte_tokens;
        continue;
      }
      flush();
      out.push_back(std::move(token));
    }
    flush();
    tokens.swap(out);
  }

 private:
  static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  static int parse_hex(char hi, char lo) {
    const int h = hex_digit(hi), l = hex_digit(lo);
    return h < 0 || l < 0 ? -1 : h * 16 + l;
  }
};

class FuseDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const std::string& token : tokens) all += token;
    tokens.assign(1, std::move(all));
  }
};

class StripDecoder final : public Decoder {
 public:
  StripDecoder(char32_t content, size_t start, size_t stop) : content_(content), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& token : tokens) {
      std::vector<size_t> offsets;  // byte offset of each character
      for (size_t i = 0; i < token.size(); i += utf8::char_length(static_cast<unsigned char>(token[i])))
        offsets.push_back(i);
      const size_t n = offsets.size();
      size_t begin = 0, end = n;
      while (begin < std::min(start_, n) && utf8::decode_at(token, offsets[begin]) == content_) ++begin;
      for (size_t k = 0; k < stop_ && end > begin && utf8::decode_at(token, offsets[end - 1]) == content_; ++k) --end;
      const size_t from = begin < n ? offsets[begin] : token.size();
      const size_t to = end < n ? offsets[end] : token.size();
      token = token.substr(from, to - from);
    }
  }

 private:
  char32_t content_;
  size_t start_, stop_;
};

class SequenceDecoder final : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> parts) : parts_(std::move(parts)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& part : parts_) part->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

char32_t one_char(const JsonPlace& place) {
  const std::string text = place.string();
  if (utf8::count_chars(text) != 1 || !utf8::is_valid(text)) place.fail("expected one character");
  return utf8::decode_at(text, 0);
}

}  // namespace

std::unique_ptr<Decoder> parse_decoder(const JsonPlace& place) {
  if (place.is_null()) return nullptr;
  const std::string type = place.type("ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, Sequence");
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "Metaspace") {
    const std::string replacement = place["replacement"].string();
    one_char(place["replacement"]);
    bool prepends = place["prepend_scheme"].string_or("always") != "never";
    if (!place["add_prefix_space"].boolean_or(true)) prepends = false;
    return std::make_unique<MetaspaceDecoder>(replacement, prepends);
  }
  if (type == "Replace") return std::make_unique<ReplaceDecoder>(parse_normalizer(place));
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip") {
    const int64_t start = place["start"].integer_or(0), stop = place["stop"].integer_or(0);
    if (start < 0) place["start"].fail("expected a count >= 0");
    if (stop < 0) place["stop"].fail("expected a count >= 0");
    return std::make_unique<StripDecoder>(one_char(place["content"]), static_cast<size_t>(start),
                                          static_cast<size_t>(stop));
  }
  const JsonPlace list = place["decoders"];
  std::vector<std::unique_ptr<Decoder>> parts;
  for (size_t i = 0; i < list.size(); ++i) {
    auto part = parse_decoder(list[i]);
    if (!part) list[i].fail("expected a decoder, found null");
    parts.push_back(std::move(part));
  }
  return std::make_unique<SequenceDecoder>(std::move(parts));
}

}  // namespace horizon::data
