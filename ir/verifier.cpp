#include "ir/verifier.h"

#include <map>

#include "ir/shape_rules.h"
#include "support/error.h"

namespace horizon::ir {
namespace {

class StageVerifier {
 public:
  StageVerifier(const Stage& s, const std::string& file) : s_(s), file_(file), defined_(s.values.size(), false) {}

  void run() {
    if (s_.instances < 1) fail("stage", "repeat count must be >= 1, got " + std::to_string(s_.instances));
    for (int v : s_.inputs) define(v, ValueKind::input, "input");
    for (size_t i = 0; i < s_.params.size(); ++i) {
      const Param& p = s_.params[i];
      define(p.value, ValueKind::param, "param");
      for (const Dim& d : s_.values[p.value].type.shape)
        if (d.is_symbolic() || d.value <= 0)
          fail("param %" + s_.values[p.value].name,
               "parameter shapes must be positive constants, got " + s_.values[p.value].type.str());
      if (p.checkpoint_name.empty()) fail("param %" + s_.values[p.value].name, "empty checkpoint name");
      if (s_.instances > 1 && p.checkpoint_name.find("{i}") == std::string::npos)
        fail("param %" + s_.values[p.value].name,
             "checkpoint name '" + p.checkpoint_name + "' of a repeated stage must contain {i}");
    }
    for (size_t i = 0; i < s_.instrs.size(); ++i) instr(static_cast<int>(i));
    for (int v : s_.outputs) use(v, "out");
    for (const ParamGrad& g : s_.grads) {
      if (g.param < 0 || g.param >= static_cast<int>(s_.params.size())) fail("grad", "names no parameter");
      use(g.value, "grad");
      const TensorType& pt = s_.values[s_.params[g.param].value].type;
      const TensorType& gt = s_.values[g.value].type;
      if (gt.shape != pt.shape)
        fail("grad %" + s_.values[s_.params[g.param].value].name,
             "gradient " + gt.str() + " does not match parameter " + pt.str());
    }
    for (size_t v = 0; v < s_.values.size(); ++v)
      if (!defined_[v]) fail("%" + s_.values[v].name, "value is never defined");
  }

 private:
  void instr(int i) {
    const Instr& in = s_.instrs[i];
    std::string place = "instruction " + std::to_string(i) + " (" + op_name(in.op) + ")";
    if (!op_takes_operands(in.op, static_cast<int>(in.operands.size())))
      fail(place, "takes " + operand_count(in.op) + " operands, has " + std::to_string(in.operands.size()));
    if (static_cast<int>(in.results.size()) != op_results(in.op))
      fail(place,
           "has " + std::to_string(op_results(in.op)) + " results, declares " + std::to_string(in.results.size()));
    std::vector<TensorType> operand_types;
    for (int v : in.operands) {
      use(v, place);
      operand_types.push_back(s_.values[v].type);
    }
    std::vector<TensorType> want;
    try {
      want = infer_result_types(in.op, operand_types, in.attrs);
    } catch (const ShapeError& e) {
      fail(place, e.what());
    }
    for (size_t r = 0; r < in.results.size(); ++r) {
      int v = in.results[r];
      define(v, ValueKind::result, place);
      if (!(s_.values[v].type == want[r]))
        fail(place, "%" + s_.values[v].name + " is declared " + s_.values[v].type.str() + " but the op produces " +
                        want[r].str());
    }
  }

  void define(int v, ValueKind kind, const std::string& place) {
    if (v < 0 || v >= static_cast<int>(s_.values.size())) fail(place, "refers to a value that does not exist");
    if (defined_[v]) fail(place, "%" + s_.values[v].name + " is defined twice");
    if (s_.values[v].kind != kind) fail(place, "%" + s_.values[v].name + " has the wrong kind");
    defined_[v] = true;
  }

  void use(int v, const std::string& place) {
    if (v < 0 || v >= static_cast<int>(s_.values.size())) fail(place, "refers to a value that does not exist");
    if (!defined_[v]) fail(place, "%" + s_.values[v].name + " is used before it is defined");
  }

  [[noreturn]] void fail(const std::string& place, const std::string& msg) {
    throw_user_error(file_, "stage " + s_.name + ": " + place, msg);
  }

  const Stage& s_;
  const std::string& file_;
  std::vector<bool> defined_;
};

}  // namespace

void verify_module(const Module& m, const std::string& file) {
  std::map<std::string, std::string> stage_names;
  std::map<std::string, TensorType> checkpoint_types;
  for (const Stage& s : m.stages) {
    if (stage_names.count(s.name)) throw_user_error(file, "stage " + s.name, "stage is defined twice");
    stage_names[s.name] = s.name;
    StageVerifier(s, file).run();
    for (const Param& p : s.params) {
      // A name may appear in two stages only for tied weights of one shape.
      auto [it, inserted] = checkpoint_types.emplace(p.checkpoint_name, s.values[p.value].type);
      if (!inserted && !(it->second.shape == s.values[p.value].type.shape))
        throw_user_error(file, "stage " + s.name + ": param %" + s.values[p.value].name,
                         "checkpoint name '" + p.checkpoint_name + "' is used with two shapes");
    }
  }
}

}  // namespace horizon::ir
