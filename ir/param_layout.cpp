#include "ir/param_layout.h"

#include <map>

namespace horizon::ir {

int ParamLayout::region_of(const std::string& stage, int64_t instance) const {
  for (size_t r = 0; r < regions.size(); ++r)
    if (regions[r].stage == stage && regions[r].instance == instance) return static_cast<int>(r);
  return -1;
}

int64_t ParamLayout::max_region_elements() const {
  int64_t n = 0;
  for (const RegionLayout& r : regions) n = std::max(n, r.elements);
  return n;
}

ParamLayout layout_params(const Module& m) {
  ParamLayout out;
  std::map<std::string, int> by_name;
  for (const Stage& s : m.stages) {
    if (is_derived_stage(s.name)) continue;  // backward stages and variants bind their base stage's parameters
    for (int64_t inst = 0; inst < s.instances; ++inst) {
      RegionLayout r;
      r.stage = s.name;
      r.instance = inst;
      const int region = static_cast<int>(out.regions.size());
      for (const Param& p : s.params) {
        std::string name = s.checkpoint_name(p, inst);
        if (auto it = by_name.find(name); it != by_name.end()) {
          r.bound.push_back(it->second);
          continue;
        }
        LaidOutTensor t;
        t.name = name;
        for (const Dim& d : s.values[p.value].type.shape) t.shape.push_back(d.value);
        t.elements = s.values[p.value].type.static_elements();
        t.region = region;
        t.offset = r.elements;
        t.decay = p.decay;
        t.init = p.init;
        r.elements += t.elements;
        const int id = static_cast<int>(out.tensors.size());
        by_name[name] = id;
        r.tensors.push_back(id);
        r.bound.push_back(id);
        out.tensors.push_back(std::move(t));
      }
      out.regions.push_back(std::move(r));
    }
  }
  return out;
}

std::vector<int64_t> slot_offsets(const ParamLayout& layout, int region, int64_t* slot_elements) {
  const RegionLayout& r = layout.regions[static_cast<size_t>(region)];
  std::vector<int64_t> offsets;
  int64_t end = r.elements;
  for (int t : r.bound) {
    const LaidOutTensor& tensor = layout.tensors[static_cast<size_t>(t)];
    if (tensor.region == region) {
      offsets.push_back(tensor.offset);
    } else {
      offsets.push_back(end);
      end += tensor.elements;
    }
  }
  if (slot_elements) *slot_elements = end;
  return offsets;
}

}  // namespace horizon::ir
