#include "ir/fusion_groups.h"

namespace horizon::ir {

std::vector<InstrGroup> instruction_groups(const Stage& s) {
  std::vector<InstrGroup> groups;
  const int n = static_cast<int>(s.instrs.size());
  for (int i = 0; i < n;) {
    InstrGroup g{i, i, false};
    if (auto id = s.instrs[i].attrs.find("group"); id != s.instrs[i].attrs.end()) {
      g.fused = true;
      while (g.last + 1 < n) {
        const Attrs& next = s.instrs[g.last + 1].attrs;
        auto it = next.find("group");
        if (it == next.end() || !(it->second == id->second)) break;
        ++g.last;
      }
    }
    groups.push_back(g);
    i = g.last + 1;
  }
  return groups;
}

}  // namespace horizon::ir
