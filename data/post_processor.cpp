// Post-processors (see post_processor.h); semantics from the `tokenizers`
// library's processors/{template,sequence,byte_level}.rs.
#include "data/post_processor.h"

#include <map>
#include <string>

#include "data/tokenizer_json.h"

namespace horizon::data {

namespace {

class TemplateProcessor final : public PostProcessor {
 public:
  explicit TemplateProcessor(const JsonPlace& place) {
    const JsonPlace specials = place["special_tokens"];
    std::map<std::string, std::vector<int32_t>> special_ids;
    if (!specials.is_null()) {
      for (const auto& [name, value] : specials.json().items()) {
        const JsonPlace ids = specials[name]["ids"];
        std::vector<int32_t>& out = special_ids[name];
        for (size_t i = 0; i < ids.size(); ++i) out.push_back(static_cast<int32_t>(ids[i].integer()));
      }
    }
    const JsonPlace single = place["single"];
    for (size_t i = 0; i < single.size(); ++i) {
      const JsonPlace piece = single[i];
      std::string special;
      if (piece.json().is_string()) {  // "$A", "$A:1", "<s>", "<s>:1"
        std::string text = piece.string();
        text = text.substr(0, text.find(':'));
        if (!text.empty() && text[0] == '$') {
          if (text != "$" && text != "$A" && text != "$0")
            piece.fail("a single-sequence template can only use $A, found " + text);
          parts_.push_back(Part{true, {}});
          continue;
        }
        special = text;
      } else if (piece.has("Sequence")) {
        const std::string id = piece["Sequence"]["id"].string();
        if (id != "A") piece["Sequence"]["id"].fail("a single-sequence template can only use A, found " + id);
        parts_.push_back(Part{true, {}});
        continue;
      } else if (piece.has("SpecialToken")) {
        special = piece["SpecialToken"]["id"].string();
      } else {
        piece.fail("expected {\"SpecialToken\": ...} or {\"Sequence\": ...}");
      }
      auto it = special_ids.find(special);
      if (it == special_ids.end()) piece.fail("\"" + special + "\" is not in special_tokens");
      parts_.push_back(Part{false, it->second});
    }
  }

  void add_special_tokens(std::vector<int32_t>& ids) const override {
    std::vector<int32_t> out;
    out.reserve(ids.size() + 4);
    for (const Part& part : parts_) {
      if (part.is_sequence)
        out.insert(out.end(), ids.begin(), ids.end());
      else
        out.insert(out.end(), part.ids.begin(), part.ids.end());
    }
    ids.swap(out);
  }

 private:
  struct Part {
    bool is_sequence;
    std::vector<int32_t> ids;
  };
  std::vector<Part> parts_;
};

class NoSpecialTokens final : public PostProcessor {
 public:
  void add_special_tokens(std::vector<int32_t>&) const override {}
};

class SequenceProcessor final : public PostProcessor {
 public:
  explicit SequenceProcessor(std::vector<std::unique_ptr<PostProcessor>> parts) : parts_(std::move(parts)) {}
  void add_special_tokens(std::vector<int32_t>& ids) const override {
    for (const auto& part : parts_) part->add_special_tokens(ids);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> parts_;
};

}  // namespace

std::unique_ptr<PostProcessor> parse_post_processor(const JsonPlace& place) {
  if (place.is_null()) return nullptr;
  const std::string type = place.type("TemplateProcessing, ByteLevel, Sequence");
  if (type == "TemplateProcessing") return std::make_unique<TemplateProcessor>(place);
  if (type == "ByteLevel") return std::make_unique<NoSpecialTokens>();
  const JsonPlace list = place["processors"];
  std::vector<std::unique_ptr<PostProcessor>> parts;
  for (size_t i = 0; i < list.size(); ++i) {
    auto part = parse_post_processor(list[i]);
    if (!part) list[i].fail("expected a post-processor, found null");
    parts.push_back(std::move(part));
  }
  return std::make_unique<SequenceProcessor>(std::move(parts));
}

}  // namespace horizon::data
