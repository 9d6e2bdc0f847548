// tokenizer.json post-processors, for encode(..., add_special_tokens=true):
// TemplateProcessing (Llama 2's "<s> $A") adds its special tokens; ByteLevel
// only adjusts offsets, which we do not produce, so it adds nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace horizon::data {

class JsonPlace;

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  /// The IDs of a single sequence with the template's special tokens added.
  virtual void add_special_tokens(std::vector<int32_t>& ids) const = 0;
};

/// The post-processor at `place` (TemplateProcessing, ByteLevel, Sequence);
/// nullptr for null; UserError naming the path otherwise.
std::unique_ptr<PostProcessor> parse_post_processor(const JsonPlace& place);

}  // namespace horizon::data
