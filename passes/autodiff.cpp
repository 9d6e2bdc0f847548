#include "passes/autodiff.h"

#include <map>
#include <stdexcept>

#include "ir/shape_rules.h"
#include "passes/add_preference_loss.h"
#include "support/error.h"

namespace horizon::passes {
namespace {

using ir::Op;

bool is_float(const ir::TensorType& t) { return t.dtype != ir::DType::i32; }

class BackwardBuilder {
 public:
  explicit BackwardBuilder(const ir::Stage& fwd) : fwd_(fwd) {}

  ir::Stage build() {
    bwd_.name = backward_stage_name(fwd_.name);
    bwd_.instances = fwd_.instances;
    // The forward stage's values keep their names and indices in the backward
    // stage, so recomputation is a plain copy of the forward instructions.
    bwd_.values = fwd_.values;
    bwd_.inputs = fwd_.inputs;
    bwd_.params = fwd_.params;
    bwd_.instrs = fwd_.instrs;
    mark_requires_grad();

    bool scalar_loss = fwd_.outputs.size() == 1 && fwd_.values[fwd_.outputs[0]].type.rank() == 0;
    if (scalar_loss) {
      seed_loss();
    } else {
      for (int out : fwd_.outputs) {
        if (!is_float(fwd_.values[out].type)) continue;
        int d = bwd_.add_value("d_" + fwd_.values[out].name, fwd_.values[out].type, ir::ValueKind::input);
        bwd_.values[d].type.dtype = ir::DType::f32;
        bwd_.inputs.push_back(d);
        grad_[out] = d;
      }
    }
    for (int i = static_cast<int>(fwd_.instrs.size()) - 1; i >= 0; --i) vjp(fwd_.instrs[i]);

    for (int in : fwd_.inputs)
      if (needs_[in]) bwd_.outputs.push_back(gradient_or_zero_error(in));
    // A DPO head's backward also reports each row's policy log-probability:
    // TRL's reward metrics are made of them.
    if (const int logps = fwd_.find_value(kPolicyLogps); scalar_loss && logps >= 0) bwd_.outputs.push_back(logps);
    for (size_t p = 0; p < fwd_.params.size(); ++p)
      bwd_.grads.push_back(ir::ParamGrad{static_cast<int>(p), gradient_or_zero_error(fwd_.params[p].value)});
    return std::move(bwd_);
  }

 private:
  void mark_requires_grad() {
    needs_.assign(fwd_.values.size(), false);
    // The reference log-probabilities of a DPO head are data, not a function of the weights: no gradient.
    for (int v : fwd_.inputs) needs_[v] = is_float(fwd_.values[v].type) && fwd_.values[v].name != kReferenceInput;
    for (const ir::Param& p : fwd_.params) needs_[p.value] = true;
    for (const ir::Instr& in : fwd_.instrs) {
      bool any = false;
      for (int v : in.operands) any |= needs_[v];
      for (int r : in.results) needs_[r] = any && is_float(fwd_.values[r].type);
    }
  }

  // The loss is the output; cross_entropy's VJP is emitted with d(loss) = 1,
  // and the backward stage reports the loss itself as its first output.
  void seed_loss() {
    int loss = fwd_.outputs[0];
    const ir::Instr* producer = nullptr;
    for (const ir::Instr& in : fwd_.instrs)
      if (in.results[0] == loss) producer = &in;
    if (!producer || (producer->op != Op::cross_entropy && producer->op != Op::dpo_loss))
      throw_user_error("", "stage " + fwd_.name,
                       "a scalar output must be produced by cross_entropy or dpo_loss to be differentiated",
                       "end the head stage with a cross_entropy op");
    bwd_.outputs.push_back(loss);
    loss_seeded_ = loss;
  }

  int emit(Op op, std::vector<int> operands, const ir::Attrs& attrs, const std::vector<std::string>& names) {
    std::vector<ir::TensorType> types;
    for (int v : operands) types.push_back(bwd_.values[v].type);
    std::vector<ir::TensorType> results = ir::infer_result_types(op, types, attrs);
    ir::Instr in{op, std::move(operands), {}, attrs};
    for (size_t r = 0; r < results.size(); ++r)
      in.results.push_back(bwd_.add_value(unique(names[r]), results[r], ir::ValueKind::result));
    bwd_.instrs.push_back(in);
    return in.results[0];
  }
  int emit1(Op op, std::vector<int> operands, const std::string& name, const ir::Attrs& attrs = {}) {
    return emit(op, std::move(operands), attrs, {name});
  }
  std::vector<int> emit_multi(Op op, std::vector<int> operands, const ir::Attrs& attrs,
                              const std::vector<std::string>& names) {
    int first = emit(op, std::move(operands), attrs, names);
    return bwd_.instrs.back().results.empty() ? std::vector<int>{first} : bwd_.instrs.back().results;
  }

  std::string unique(const std::string& base) {
    if (bwd_.find_value(base) < 0) return base;
    for (int k = 1;; ++k)
      if (bwd_.find_value(base + "." + std::to_string(k)) < 0) return base + "." + std::to_string(k);
  }

  std::string dname(int v) const { return "d_" + fwd_.values[v].name; }

  // Adds a gradient contribution to forward value v (summing with `add` when
  // v has several uses).
  void contribute(int v, int g) {
    if (!needs_[v]) return;
    auto it = grad_.find(v);
    if (it == grad_.end()) {
      grad_[v] = g;
      return;
    }
    it->second = emit1(Op::add, {it->second, g}, dname(v) + ".sum");
  }

  int gradient_or_zero_error(int v) {
    auto it = grad_.find(v);
    if (it == grad_.end())
      throw_user_error("", "stage " + fwd_.name + ": %" + fwd_.values[v].name,
                       "does not influence the stage's outputs, so it has no gradient", "remove it or use it");
    return it->second;
  }

  void vjp(const ir::Instr& in) {
    int y = in.results[0];
    bool seeded = loss_seeded_ == y;
    auto it = grad_.find(y);
    if (!seeded && it == grad_.end()) return;  // result does not reach an output
    int dy = seeded ? -1 : it->second;
    const std::vector<int>& x = in.operands;
    auto wants = [&](int k) { return needs_[x[k]]; };
    switch (in.op) {
      case Op::embedding:
        if (wants(1)) {
          ir::Attrs a{{"rows", bwd_.values[x[1]].type.shape[0].value}};
          contribute(x[1], emit1(Op::embedding_grad, {dy, x[0]}, dname(x[1]), a));
        }
        break;
      case Op::add_positions:
        contribute(x[0], dy);
        if (wants(1)) {
          ir::Attrs a{{"rows", bwd_.values[x[1]].type.shape[0].value}};
          contribute(x[1], emit1(Op::add_positions_grad, {dy}, dname(x[1]), a));
        }
        break;
      case Op::linear:
        if (wants(0)) contribute(x[0], emit1(Op::linear_grad_x, {dy, x[1]}, dname(x[0])));
        if (wants(1)) contribute(x[1], emit1(Op::linear_grad_w, {dy, x[0]}, dname(x[1])));
        break;
      case Op::bias_add:
        contribute(x[0], dy);
        if (wants(1)) contribute(x[1], emit1(Op::bias_add_grad, {dy}, dname(x[1])));
        break;
      case Op::add:
        contribute(x[0], dy);
        contribute(x[1], dy);
        break;
      case Op::mul:
        if (wants(0)) contribute(x[0], emit1(Op::mul, {dy, x[1]}, dname(x[0])));
        if (wants(1)) contribute(x[1], emit1(Op::mul, {dy, x[0]}, dname(x[1])));
        break;
      case Op::silu:
        contribute(x[0], emit1(Op::silu_grad, {dy, x[0]}, dname(x[0])));
        break;
      case Op::gelu:
        contribute(x[0], emit1(Op::gelu_grad, {dy, x[0]}, dname(x[0])));
        break;
      case Op::rms_norm: {
        auto r = emit_multi(Op::rms_norm_grad, {dy, x[0], x[1]}, in.attrs, {dname(x[0]), dname(x[1])});
        contribute(x[0], r[0]);
        contribute(x[1], r[1]);
        break;
      }
      case Op::layer_norm: {
        auto r = emit_multi(Op::layer_norm_grad, {dy, x[0], x[1]}, in.attrs, {dname(x[0]), dname(x[1]), dname(x[2])});
        contribute(x[0], r[0]);
        contribute(x[1], r[1]);
        contribute(x[2], r[2]);
        break;
      }
      // Positions and segments (packed documents) are integer operands: the
      // gradient ops read them too, and they get no gradient.
      case Op::rope: {
        std::vector<int> operands{dy};
        if (x.size() > 1) operands.push_back(x[1]);
        contribute(x[0], emit1(Op::rope_grad, operands, dname(x[0]), in.attrs));
        break;
      }
      case Op::attention: {
        std::vector<int> operands{dy, x[0], x[1], x[2]};
        if (x.size() > 3) operands.push_back(x[3]);
        auto r = emit_multi(Op::attention_grad, operands, in.attrs, {dname(x[0]), dname(x[1]), dname(x[2])});
        for (int k = 0; k < 3; ++k) contribute(x[k], r[k]);
        break;
      }
      case Op::cross_entropy:
        if (!seeded)
          throw_user_error("", "stage " + fwd_.name, "cross_entropy must produce the stage's only output (the loss)",
                           "");
        contribute(x[0], emit1(Op::cross_entropy_grad, {x[0], x[1]}, dname(x[0])));
        break;
      // The DPO head: dpo_loss(sequence_logprob(logits, targets), reference).
      case Op::dpo_loss: {
        if (!seeded)
          throw_user_error("", "stage " + fwd_.name, "dpo_loss must produce the stage's only output (the loss)", "");
        auto r = emit_multi(Op::dpo_loss_grad, {x[0], x[1]}, in.attrs, {dname(x[0]), dname(x[1])});
        contribute(x[0], r[0]);
        contribute(x[1], r[1]);
        break;
      }
      case Op::sequence_logprob:
        contribute(x[0], emit1(Op::sequence_logprob_grad, {dy, x[0], x[1]}, dname(x[0]), in.attrs));
        break;
      default:
        throw_user_error("", "stage " + fwd_.name, std::string("op ") + ir::op_name(in.op) + " has no VJP rule",
                         "backward ops cannot appear in a forward stage");
    }
  }

  const ir::Stage& fwd_;
  ir::Stage bwd_;
  std::vector<bool> needs_;
  std::map<int, int> grad_;  // forward value -> its gradient in bwd_
  int loss_seeded_ = -1;
};

}  // namespace

std::string backward_stage_name(const std::string& forward) { return forward + ".bwd"; }

bool autodiff(ir::Module& m) {
  std::vector<ir::Stage> backward;
  for (const ir::Stage& s : m.stages) {
    if (!s.grads.empty() || m.find_stage(backward_stage_name(s.name))) continue;
    if (s.name.size() > 4 && s.name.substr(s.name.size() - 4) == ".bwd") continue;
    backward.push_back(BackwardBuilder(s).build());
  }
  // Backward stages run in reverse order of their forward stages.
  for (auto it = backward.rbegin(); it != backward.rend(); ++it) m.stages.push_back(std::move(*it));
  return !backward.empty();
}

}  // namespace horizon::passes
