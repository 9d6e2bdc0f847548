// Where parameters live: one region per forward-stage instance (embed, each
// block, head), holding the tensors that instance is first to name, in
// parameter order. A tensor named again later (tied embeddings) stays in its
// first region. The host store, the schedule and every executor derive their
// layouts from this one function, so they cannot disagree.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/module.h"

namespace horizon::ir {

struct LaidOutTensor {
  std::string name;  // checkpoint name with {i} resolved
  std::vector<int64_t> shape;
  int64_t elements = 0;
  int region = -1;
  int64_t offset = 0;  // elements before it in its region
  bool decay = true;
  Init init;
};

struct RegionLayout {
  std::string stage;  // forward stage name
  int64_t instance = 0;
  int64_t elements = 0;
  std::vector<int> tensors;  // tensors stored in this region, in offset order
  std::vector<int> bound;    // per parameter of the stage: the tensor it binds (maybe in another region)
};

struct ParamLayout {
  std::vector<LaidOutTensor> tensors;
  std::vector<RegionLayout> regions;  // embed, block 0..L-1, head (forward stage order)

  /// Region of a forward stage instance; -1 if absent.
  int region_of(const std::string& stage, int64_t instance) const;
  int64_t max_region_elements() const;
};

ParamLayout layout_params(const Module& m);

/// Where each parameter of a stage instance sits in a weight slot, in
/// elements: the instance's own region first (at the tensors' region
/// offsets), then tensors of other regions it binds (tied), appended in
/// parameter order. `slot_elements` returns the total.
std::vector<int64_t> slot_offsets(const ParamLayout& layout, int region, int64_t* slot_elements = nullptr);

}  // namespace horizon::ir
