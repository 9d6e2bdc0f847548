#include "ir/param_count.h"

#include <set>

namespace horizon::ir {

ParamSummary summarize_params(const Module& m) {
  ParamSummary out;
  std::set<std::string> seen;
  for (const Stage& s : m.stages) {
    if (is_derived_stage(s.name)) continue;  // backward stages and variants bind their base stage's parameters
    StageParams sp{s.name, s.instances, 0, 0, {}};
    for (const Param& p : s.params) {
      // Instance 0's name stands for the template; distinct instances never collide.
      std::string name = s.checkpoint_name(p, 0);
      if (!seen.insert(name).second) {
        sp.tied.push_back(name);
        continue;
      }
      sp.per_instance += s.values[p.value].type.static_elements();
    }
    sp.total = sp.per_instance * s.instances;
    out.total += sp.total;
    out.stages.push_back(sp);
  }
  return out;
}

}  // namespace horizon::ir
