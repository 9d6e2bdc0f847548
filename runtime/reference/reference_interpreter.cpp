// Straight-line evaluation of a stage: bind inputs and parameters, then run
// the instructions in order, checking every tensor against its IR type so a
// shape bug in a pass or an op shows up where it happens.
#include "runtime/reference/reference_interpreter.h"

#include <stdexcept>
#include <string>

#include "runtime/reference/reference_ops.h"

namespace horizon::reference {

namespace {

std::string shape_text(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

}  // namespace

ReferenceInterpreter::ReferenceInterpreter(ir::Stage stage, int64_t batch, int64_t seq)
    : stage_(std::move(stage)), batch_(batch), seq_(seq) {}

std::vector<int64_t> ReferenceInterpreter::shape_of(int index) const {
  std::vector<int64_t> shape;
  for (const ir::Dim& d : stage_.values.at(index).type.shape)
    shape.push_back(d.sym == ir::Dim::Sym::B ? batch_ : d.sym == ir::Dim::Sym::S ? seq_ : d.value);
  return shape;
}

std::vector<RefTensor> ReferenceInterpreter::run(const std::map<int, RefTensor>& inputs,
                                                 const std::map<int, RefTensor>& params) const {
  const std::string where = "reference interpreter, stage '" + stage_.name + "': ";
  auto fail = [&](int value, const std::string& problem) {
    throw std::invalid_argument(where + "%" + stage_.values.at(value).name + " " + problem);
  };
  // Does `t` have the shape and element kind (i32 or float) of value `v`?
  auto check = [&](int v, const RefTensor& t, const char* what) {
    const std::vector<int64_t> want = shape_of(v);
    if (t.shape != want)
      fail(v, std::string(what) + " has shape " + shape_text(t.shape) + ", expected " + shape_text(want));
    const bool is_int = stage_.values[v].type.dtype == ir::DType::i32;
    const size_t n = static_cast<size_t>(t.elements());
    if (is_int ? t.ints.size() != n : t.data.size() != n)
      fail(v, std::string(what) + " must hold " + std::to_string(n) + (is_int ? " ints" : " doubles"));
  };

  std::vector<RefTensor> values(stage_.values.size());
  std::vector<bool> defined(stage_.values.size(), false);
  auto bind = [&](const std::map<int, RefTensor>& given, int v, const char* what) {
    auto it = given.find(v);
    if (it == given.end()) fail(v, std::string("has no ") + what + " tensor");
    check(v, it->second, what);
    values[v] = it->second;
    defined[v] = true;
  };
  for (int v : stage_.inputs) bind(inputs, v, "input");
  for (const ir::Param& p : stage_.params) bind(params, p.value, "parameter");
  for (const auto* given : {&inputs, &params})
    for (const auto& [v, t] : *given)
      if (v < 0 || v >= static_cast<int>(values.size()) || !defined[v])
        throw std::invalid_argument(where + "value index " + std::to_string(v) +
                                    " is not an input or parameter of the stage");

  for (const ir::Instr& instr : stage_.instrs) {
    std::vector<const RefTensor*> operands;
    for (int v : instr.operands) {
      if (!defined.at(v)) fail(v, std::string("is read by ") + ir::op_name(instr.op) + " before it is defined");
      operands.push_back(&values[v]);
    }
    std::vector<RefTensor> results = reference_op(instr.op, operands, instr.attrs);
    if (results.size() != instr.results.size())
      throw std::invalid_argument(where + ir::op_name(instr.op) + " gave " + std::to_string(results.size()) +
                                  " results, the IR lists " + std::to_string(instr.results.size()));
    for (size_t r = 0; r < results.size(); ++r) {
      const int v = instr.results[r];
      check(v, results[r], "the result");
      values[v] = std::move(results[r]);
      defined[v] = true;
    }
  }
  return values;
}

}  // namespace horizon::reference
