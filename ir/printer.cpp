#include "ir/printer.h"

#include <sstream>

namespace horizon::ir {
namespace {

std::string ref(const Stage& s, int v) { return "%" + s.values[v].name; }

std::string attrs_str(const Attrs& attrs) {
  if (attrs.empty()) return "";
  std::string out = " {";
  bool first = true;
  for (const auto& [k, v] : attrs) {
    if (!first) out += ", ";
    out += k + " = " + attr_str(v);
    first = false;
  }
  return out + "}";
}

}  // namespace

std::string print_stage(const Stage& s) {
  std::ostringstream o;
  o << "  stage " << s.name;
  if (s.instances != 1) o << " repeat " << s.instances;
  o << " {\n";
  for (int v : s.inputs) o << "    in " << ref(s, v) << " : " << s.values[v].type.str() << "\n";
  for (const Param& p : s.params) {
    o << "    param " << ref(s, p.value) << " : " << s.values[p.value].type.str() << " \"" << p.checkpoint_name
      << "\" init=" << p.init.str();
    if (!p.decay) o << " nodecay";
    o << "\n";
  }
  for (const Instr& in : s.instrs) {
    o << "    ";
    for (size_t i = 0; i < in.results.size(); ++i) {
      if (i) o << ", ";
      o << ref(s, in.results[i]) << " : " << s.values[in.results[i]].type.str();
    }
    o << " = " << op_name(in.op) << "(";
    for (size_t i = 0; i < in.operands.size(); ++i) o << (i ? ", " : "") << ref(s, in.operands[i]);
    o << ")" << attrs_str(in.attrs) << "\n";
  }
  for (int v : s.outputs) o << "    out " << ref(s, v) << "\n";
  for (const ParamGrad& g : s.grads)
    o << "    grad " << ref(s, s.params[g.param].value) << " = " << ref(s, g.value) << "\n";
  o << "  }\n";
  return o.str();
}

std::string print_module(const Module& m) {
  std::ostringstream o;
  o << "module \"" << m.name << "\" {\n";
  o << "  config {";
  for (size_t i = 0; i < m.config.size(); ++i)
    o << (i ? ", " : "") << m.config[i].first << " = " << attr_str(m.config[i].second);
  o << "}\n";
  for (const Stage& s : m.stages) o << "\n" << print_stage(s);
  o << "}\n";
  return o.str();
}

}  // namespace horizon::ir
