// Parameter counts of a module, per stage and in total. A checkpoint name
// bound in several places (tied embeddings) is one tensor and counts once.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/module.h"

namespace horizon::ir {

struct StageParams {
  std::string stage;
  int64_t instances = 1;
  int64_t per_instance = 0;  // elements, counting only names not seen in an earlier stage
  int64_t total = 0;
  std::vector<std::string> tied;  // names shared with an earlier stage
};

struct ParamSummary {
  std::vector<StageParams> stages;
  int64_t total = 0;
};

ParamSummary summarize_params(const Module& m);

}  // namespace horizon::ir
