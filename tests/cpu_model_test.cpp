// A whole training step of the CPU backend (autodiff's backward stages,
// fused JIT groups, fp32 kernels) against the float64 reference interpreter
// running the same stages, and the reference's gradients against finite
// differences of the loss: the end-to-end check of every VJP rule as the
// compiler wires them together.
#include <gtest/gtest.h>

#include <cmath>

#include "frontend/model_json.h"
#include "passes/lower.h"
#include "runtime/cpu/cpu_model.h"
#include "runtime/reference/reference_interpreter.h"
#include "support/random.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

using reference::RefTensor;

// Runs the lowered module's stages in float64, chaining them like CpuModel.
class ReferenceModel {
 public:
  ReferenceModel(const ir::Module& m, const runtime::HostStore& store, int64_t B, int64_t S)
      : m_(m), store_(store), B_(B), S_(S) {}

  // Parameters of a stage instance in double; `bump` perturbs one stored element.
  std::map<int, RefTensor> params(const ir::Stage& s, const std::string& fwd, int64_t inst, int bump_tensor = -1,
                                  int64_t bump_index = 0, double bump = 0) const {
    std::map<int, RefTensor> out;
    for (size_t p = 0; p < s.params.size(); ++p) {
      int t = store_.tensor_of(fwd, inst, static_cast<int>(p));
      const auto& st = store_.tensors()[t];
      std::vector<float> w(static_cast<size_t>(st.elements));
      store_.get_working(t, w.data());
      RefTensor r = RefTensor::zeros(st.shape);
      for (size_t i = 0; i < w.size(); ++i) r.data[i] = w[i];
      if (t == bump_tensor) r.data[static_cast<size_t>(bump_index)] += bump;
      out[s.params[p].value] = std::move(r);
    }
    return out;
  }

  RefTensor ints(const std::vector<int32_t>& v) const { return RefTensor::integers({B_, S_}, v); }

  // Forward loss in double, optionally with one weight perturbed.
  double loss(const std::vector<int32_t>& tokens, const std::vector<int32_t>& targets, int bump_tensor = -1,
              int64_t bump_index = 0, double bump = 0) const {
    std::vector<RefTensor> xs = forward(tokens, bump_tensor, bump_index, bump);
    const ir::Stage& head = *m_.find_stage("head");
    reference::ReferenceInterpreter run(head, B_, S_);
    auto v = run.run({{head.inputs[0], xs.back()}, {head.inputs[1], ints(targets)}},
                     params(head, "head", 0, bump_tensor, bump_index, bump));
    return v[head.outputs[0]].data[0];
  }

  // Loss and gradient per stored tensor (summed over tied uses), in double.
  double gradients(const std::vector<int32_t>& tokens, const std::vector<int32_t>& targets,
                   std::vector<std::vector<double>>& grads) const {
    grads.clear();
    for (const auto& t : store_.tensors()) grads.emplace_back(static_cast<size_t>(t.elements), 0.0);
    std::vector<RefTensor> xs = forward(tokens);
    const ir::Stage& hb = *m_.find_stage("head.bwd");
    auto hv = reference::ReferenceInterpreter(hb, B_, S_)
                  .run({{hb.inputs[0], xs.back()}, {hb.inputs[1], ints(targets)}}, params(hb, "head", 0));
    add_grads(hb, "head", 0, hv, grads);
    RefTensor dx = hv[hb.outputs[1]];
    const ir::Stage& bb = *m_.find_stage("block.bwd");
    for (int64_t l = bb.instances - 1; l >= 0; --l) {
      auto bv = reference::ReferenceInterpreter(bb, B_, S_)
                    .run({{bb.inputs[0], xs[static_cast<size_t>(l)]}, {bb.inputs[1], dx}}, params(bb, "block", l));
      add_grads(bb, "block", l, bv, grads);
      dx = bv[bb.outputs[0]];
    }
    const ir::Stage& eb = *m_.find_stage("embed.bwd");
    auto ev = reference::ReferenceInterpreter(eb, B_, S_)
                  .run({{eb.inputs[0], ints(tokens)}, {eb.inputs[1], dx}}, params(eb, "embed", 0));
    add_grads(eb, "embed", 0, ev, grads);
    return hv[hb.outputs[0]].data[0];
  }

 private:
  std::vector<RefTensor> forward(const std::vector<int32_t>& tokens, int bump_tensor = -1, int64_t bump_index = 0,
                                 double bump = 0) const {
    const ir::Stage& embed = *m_.find_stage("embed");
    const ir::Stage& block = *m_.find_stage("block");
    std::vector<RefTensor> xs;
    auto ev = reference::ReferenceInterpreter(embed, B_, S_)
                  .run({{embed.inputs[0], ints(tokens)}}, params(embed, "embed", 0, bump_tensor, bump_index, bump));
    xs.push_back(ev[embed.outputs[0]]);
    for (int64_t l = 0; l < block.instances; ++l) {
      auto bv = reference::ReferenceInterpreter(block, B_, S_)
                    .run({{block.inputs[0], xs.back()}}, params(block, "block", l, bump_tensor, bump_index, bump));
      xs.push_back(bv[block.outputs[0]]);
    }
    return xs;
  }

  void add_grads(const ir::Stage& s, const std::string& fwd, int64_t inst, const std::vector<RefTensor>& values,
                 std::vector<std::vector<double>>& grads) const {
    for (const ir::ParamGrad& g : s.grads) {
      int t = store_.tensor_of(fwd, inst, g.param);
      const RefTensor& r = values[g.value];
      for (size_t i = 0; i < r.data.size(); ++i) grads[t][i] += r.data[i];
    }
  }

  const ir::Module& m_;
  const runtime::HostStore& store_;
  int64_t B_, S_;
};

struct Case {
  const char* model;
  int64_t B, S;
};

class CpuModelVsReference : public ::testing::TestWithParam<Case> {};

TEST_P(CpuModelVsReference, LossAndEveryGradientMatchFloat64) {
  const Case c = GetParam();
  ir::Module m = frontend::load_model(testing::source_path(std::string("models/") + c.model));
  passes::lower(m);
  runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
  store.init_random(11);
  // Norm weights start at exactly 1 and biases at 0; randomize them so their
  // gradients are tested on general values.
  Rng rng(5);
  for (size_t t = 0; t < store.tensors().size(); ++t) {
    const auto& st = store.tensors()[t];
    if (st.shape.size() != 1) continue;
    std::vector<float> v(static_cast<size_t>(st.elements));
    const bool bias = st.name.size() > 5 && st.name.substr(st.name.size() - 5) == ".bias";
    for (float& x : v) x = static_cast<float>(bias ? 0.05 * rng.normal() : 1.0 + 0.3 * rng.normal());
    store.set_master(static_cast<int>(t), v.data());
  }
  std::vector<int32_t> tokens(static_cast<size_t>(c.B * c.S)), targets(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    tokens[i] = static_cast<int32_t>(rng.below(256));
    targets[i] = i % 7 == 3 ? -1 : static_cast<int32_t>(rng.below(256));  // some masked targets
  }

  std::vector<std::vector<float>> grads;
  for (const auto& t : store.tensors()) grads.emplace_back(static_cast<size_t>(t.elements), 0.0f);
  runtime::CpuModel model(m, store);
  const double loss = model.forward_backward(tokens.data(), targets.data(), c.B, c.S, grads);

  ReferenceModel ref(m, store, c.B, c.S);
  std::vector<std::vector<double>> ref_grads;
  const double ref_loss = ref.gradients(tokens, targets, ref_grads);
  EXPECT_NEAR(loss, ref_loss, 1e-5 * std::fabs(ref_loss));
  EXPECT_NEAR(model.loss(tokens.data(), targets.data(), c.B, c.S), ref_loss, 1e-5 * std::fabs(ref_loss));

  for (size_t t = 0; t < grads.size(); ++t) {
    double num = 0, den = 0;
    for (size_t i = 0; i < grads[t].size(); ++i) {
      ASSERT_TRUE(std::isfinite(grads[t][i])) << store.tensors()[t].name;
      num += (grads[t][i] - ref_grads[t][i]) * (grads[t][i] - ref_grads[t][i]);
      den += ref_grads[t][i] * ref_grads[t][i];
    }
    ASSERT_GT(den, 0) << store.tensors()[t].name << " has an all-zero gradient";
    // Relative L2 error, with an absolute floor for gradients that vanish
    // mathematically (a key bias shifts every score of a row equally).
    const double n = static_cast<double>(grads[t].size());
    EXPECT_LT(std::sqrt(num), 1e-4 * std::sqrt(den) + 1e-7 * std::sqrt(n))
        << store.tensors()[t].name << ": relative error " << std::sqrt(num / den);
  }

  // The reference's gradient against central differences of its own loss,
  // for a few coordinates of every tensor.
  for (size_t t = 0; t < grads.size(); ++t) {
    for (int k = 0; k < 2; ++k) {
      int64_t i = static_cast<int64_t>(rng.below(static_cast<uint64_t>(store.tensors()[t].elements)));
      const double h = 1e-4;
      double fd = (ref.loss(tokens, targets, static_cast<int>(t), i, h) -
                   ref.loss(tokens, targets, static_cast<int>(t), i, -h)) /
                  (2 * h);
      double g = ref_grads[t][static_cast<size_t>(i)];
      EXPECT_NEAR(fd, g, 1e-6 + 1e-4 * std::fabs(g)) << store.tensors()[t].name << "[" << i << "]";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Models, CpuModelVsReference,
                         ::testing::Values(Case{"tiny-qwen.json", 2, 9}, Case{"tiny-qwen3.json", 2, 6},
                                           Case{"tiny-gpt2.json", 2, 7}, Case{"tiny.json", 1, 5}),
                         [](const auto& info) {
                           std::string n = info.param.model;
                           n = n.substr(0, n.find('.'));
                           for (char& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace horizon
