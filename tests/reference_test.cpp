// The float64 reference ops and interpreter checked against values worked out
// by hand or taken from Hugging Face's formulas: normalization, activations,
// attention masking and head grouping, rotary frequencies, the loss; then a
// whole block and head stage of models/tiny.json through the interpreter.
#include <gtest/gtest.h>

#include "tests/test_support.h"

#include <cmath>
#include <map>
#include <numbers>
#include <random>
#include <stdexcept>
#include <vector>

#include "frontend/model_json.h"
#include "runtime/reference/reference_interpreter.h"
#include "runtime/reference/reference_ops.h"

namespace horizon {
namespace {

using ir::Op;
using reference::RefTensor;

RefTensor tensor(std::vector<int64_t> shape, std::vector<double> values) {
  RefTensor t = RefTensor::zeros(std::move(shape));
  EXPECT_EQ(t.data.size(), values.size());
  t.data = std::move(values);
  return t;
}

RefTensor eval(Op op, std::vector<const RefTensor*> in, const ir::Attrs& attrs = {}, int index = 0) {
  return reference::reference_op(op, in, attrs).at(index);
}

void expect_values(const RefTensor& got, const std::vector<double>& want, double tol = 1e-12) {
  ASSERT_EQ(got.data.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got.data[i], want[i], tol) << "element " << i;
}

TEST(Reference, RmsNormAndLayerNormHandValues) {
  const RefTensor x = tensor({1, 4}, {1, 2, 3, 4}), w = tensor({4}, {1, 1, 2, 0.5});
  const double r = 1.0 / std::sqrt(7.5);  // mean(x^2) = 30 / 4
  expect_values(eval(Op::rms_norm, {&x, &w}, {{"eps", 0.0}}), {r, 2 * r, 6 * r, 2 * r});
  // eps sits inside the root: rsqrt(7.5 + 0.5).
  expect_values(eval(Op::rms_norm, {&x, &w}, {{"eps", 0.5}}),
                {1 / std::sqrt(8.0), 2 / std::sqrt(8.0), 6 / std::sqrt(8.0), 2 / std::sqrt(8.0)});
  const RefTensor x3 = tensor({1, 3}, {1, 2, 3}), ones = tensor({3}, {1, 1, 1}), b = tensor({3}, {0, 1, 0});
  const double s = std::sqrt(1.5);  // biased variance 2/3
  expect_values(eval(Op::layer_norm, {&x3, &ones, &b}, {{"eps", 0.0}}), {-s, 1, s});
}

TEST(Reference, RmsNormPerGroupNormalizesEachGroupAlone) {
  // Two heads of 2: (3, 4) has rms sqrt(12.5), (0, 2) sqrt(2); the weight repeats per head.
  const RefTensor x = tensor({1, 4}, {3, 4, 0, 2}), w = tensor({2}, {1, 2});
  const double a = 1 / std::sqrt(12.5), b = 1 / std::sqrt(2.0);
  expect_values(eval(Op::rms_norm, {&x, &w}, {{"eps", 0.0}, {"group_size", int64_t{2}}}), {3 * a, 8 * a, 0, 4 * b});
  // Its gradient is that of the same rows laid out as [.., heads, head_dim].
  const RefTensor dy = tensor({1, 4}, {0.5, -1, 2, 0.25}), x2 = tensor({2, 2}, {3, 4, 0, 2}),
                  dy2 = tensor({2, 2}, {0.5, -1, 2, 0.25});
  const ir::Attrs grouped{{"eps", 1e-3}, {"group_size", int64_t{2}}}, plain{{"eps", 1e-3}};
  for (int r : {0, 1})
    expect_values(eval(Op::rms_norm_grad, {&dy, &x, &w}, grouped, r),
                  eval(Op::rms_norm_grad, {&dy2, &x2, &w}, plain, r).data);
}

TEST(Reference, ActivationsAtKnownPoints) {
  const RefTensor x = tensor({3}, {1.0, -2.0, -3.0});
  expect_values(eval(Op::silu, {&x}), {0.7310585786300049, -0.2384058440442351, -3.0 / (1.0 + std::exp(3.0))});
  // tanh-approximated GELU (PyTorch approximate="tanh").
  expect_values(
      eval(Op::gelu, {&x}),
      {0.8411919906082768, -2.0 * 0.5 * (1 + std::tanh(std::sqrt(2 / std::numbers::pi) * (-2.0 - 0.044715 * 8))),
       -0.0036373920817729943});
}

TEST(Reference, LinearUsesHuggingFaceWeightLayout) {
  const RefTensor x = tensor({1, 2}, {1, 2}), w = tensor({3, 2}, {1, 0, 0, 1, 1, 1});  // w is [out, in]
  expect_values(eval(Op::linear, {&x, &w}), {1, 2, 3});
  const RefTensor dy = tensor({1, 3}, {1, 10, 100});
  expect_values(eval(Op::linear_grad_x, {&dy, &w}), {101, 110});
  expect_values(eval(Op::linear_grad_w, {&dy, &x}), {1, 2, 10, 20, 100, 200});
  EXPECT_THROW(eval(Op::linear, {&x, &dy}), std::invalid_argument);
}

TEST(Reference, AttentionIsCausalWindowedAndGrouped) {
  const ir::Attrs one_head{{"heads", 1}, {"kv_heads", 1}, {"head_dim", 2}};
  // With all keys equal every visible key gets the same weight: out_i is the
  // mean of the visible values.
  const RefTensor q = tensor({1, 4, 2}, {1, 2, 3, 4, 5, 6, 7, 8}), k = RefTensor::zeros({1, 4, 2});
  const RefTensor v = tensor({1, 4, 2}, {1, 0, 2, 0, 4, 0, 8, 0});
  expect_values(eval(Op::attention, {&q, &k, &v}, one_head), {1, 0, 1.5, 0, 7.0 / 3, 0, 15.0 / 4, 0});
  ir::Attrs window = one_head;
  window["window"] = int64_t{2};  // key j visible iff i - 2 < j <= i
  expect_values(eval(Op::attention, {&q, &k, &v}, window), {1, 0, 1.5, 0, 3, 0, 6, 0});

  // One query, two keys: weights softmax([q.k0, q.k1] / sqrt(2)).
  const RefTensor q2 = tensor({1, 2, 2}, {0, 0, 1, 1}), k2 = tensor({1, 2, 2}, {1, 0, 0, 2});
  const RefTensor v2 = tensor({1, 2, 2}, {1, 0, 0, 1});
  const double a = 1 / std::sqrt(2.0), b = 2 / std::sqrt(2.0), p0 = std::exp(a) / (std::exp(a) + std::exp(b));
  expect_values(eval(Op::attention, {&q2, &k2, &v2}, one_head), {1, 0, p0, 1 - p0});

  // Heads 0, 1 read kv head 0 (values 1); heads 2, 3 read kv head 1 (values 2).
  const ir::Attrs gqa{{"heads", 4}, {"kv_heads", 2}, {"head_dim", 1}};
  const RefTensor qg = tensor({1, 1, 4}, {0.3, -1, 2, 5}), kg = tensor({1, 1, 2}, {1, 1});
  const RefTensor vg = tensor({1, 1, 2}, {1, 2});
  expect_values(eval(Op::attention, {&qg, &kg, &vg}, gqa), {1, 1, 2, 2});
}

TEST(Reference, RopeRotatesHalvesByPositionTimesFrequency) {
  // D = 4: pairs (0, 2) and (1, 3) with inv_freq 1 and 10000^(-1/2) = 0.01.
  const ir::Attrs attrs{{"heads", 1}, {"head_dim", 4}, {"theta", 10000.0}};
  RefTensor x = RefTensor::zeros({1, 3, 4});
  for (int s = 0; s < 3; ++s)
    for (int c = 0; c < 4; ++c) x.data[s * 4 + c] = 1 + c;
  const RefTensor y = eval(Op::rope, {&x}, attrs);
  expect_values(tensor({4}, {y.data[0], y.data[1], y.data[2], y.data[3]}), {1, 2, 3, 4});  // position 0
  const double c2 = std::cos(2.0), s2 = std::sin(2.0), c02 = std::cos(0.02), s02 = std::sin(0.02);
  expect_values(tensor({4}, {y.data[8], y.data[9], y.data[10], y.data[11]}),
                {1 * c2 - 3 * s2, 2 * c02 - 4 * s02, 3 * c2 + 1 * s2, 4 * c02 + 2 * s02});
  // The gradient is the inverse rotation.
  expect_values(eval(Op::rope_grad, {&y}, attrs), x.data);
}

TEST(Reference, RopeInvFreqMatchesHuggingFace) {
  // transformers' _compute_llama3_parameters for Llama 3.1 8B (head_dim 128), in float64.
  const ir::Attrs llama3{{"theta", 500000.0},
                         {"scaling_factor", 8.0},
                         {"low_freq_factor", 1.0},
                         {"high_freq_factor", 4.0},
                         {"original_max_positions", int64_t{8192}}};
  const std::vector<double> f = reference::reference_rope_inv_freq(128, llama3);
  ASSERT_EQ(f.size(), 64u);
  EXPECT_NEAR(f[0], 1.0, 1e-15);
  EXPECT_NEAR(f[16], 0.037606030930863933, 1e-12 * f[16]);
  EXPECT_NEAR(f[29], 0.0021665707635033591, 1e-12 * f[29]);
  EXPECT_NEAR(f[31], 0.00085675141291963208, 1e-12 * f[31]);
  EXPECT_NEAR(f[34], 0.00017850781276799638, 1e-12 * f[34]);
  EXPECT_NEAR(f[36], 7.7846552739324498e-05, 1e-12 * f[36]);
  EXPECT_NEAR(f[60], 5.6770881007598369e-07, 1e-12 * f[60]);
  const std::vector<double> lin = reference::reference_rope_inv_freq(8, {{"theta", 10000.0}, {"scaling_factor", 4.0}});
  EXPECT_NEAR(lin[2], std::pow(10000.0, -0.5) / 4, 1e-16);
}

TEST(Reference, CrossEntropyMeansOverUnmaskedRows) {
  const RefTensor logits = tensor({3, 5}, {0, 0, 0, 0, 0, 9, -9, 3, 1, 2, 0, 0, 0, 0, 0});
  const RefTensor targets = RefTensor::integers({3}, {2, -1, 4});
  expect_values(eval(Op::cross_entropy, {&logits, &targets}), {std::log(5.0)});
  const RefTensor grad = eval(Op::cross_entropy_grad, {&logits, &targets});
  // Row 0: (softmax - onehot) / 2 rows; row 1 masked.
  expect_values(tensor({5}, {grad.data[0], grad.data[1], grad.data[2], grad.data[3], grad.data[4]}),
                {0.1, 0.1, -0.4, 0.1, 0.1});
  for (int v = 5; v < 10; ++v) EXPECT_EQ(grad.data[v], 0.0);
  const RefTensor masked = RefTensor::integers({3}, {-1, -1, -1});
  expect_values(eval(Op::cross_entropy, {&logits, &masked}), {0.0});
  const RefTensor bad = RefTensor::integers({3}, {0, 5, 1});
  EXPECT_THROW(eval(Op::cross_entropy, {&logits, &bad}), std::invalid_argument);
}

TEST(Reference, TableGradientsSumRepeatsAndZeroTheRest) {
  const RefTensor tokens = RefTensor::integers({1, 3}, {2, 0, 2});
  const RefTensor dy = tensor({1, 3, 2}, {1, 2, 3, 4, 5, 6});
  expect_values(eval(Op::embedding_grad, {&dy, &tokens}, {{"rows", 4}}), {3, 4, 0, 0, 6, 8, 0, 0});
  const RefTensor dyp = tensor({2, 1, 2}, {1, 2, 3, 4});
  expect_values(eval(Op::add_positions_grad, {&dyp}, {{"rows", 3}}), {4, 6, 0, 0, 0, 0});
}

// ---- the interpreter on models/tiny.json ----

/// Random tensors for every input and parameter of a stage (normal weights,
/// ones/zeros where the model says so; tokens and targets in [0, vocab)).
struct StageData {
  std::map<int, RefTensor> inputs, params;
};

StageData random_stage_data(const reference::ReferenceInterpreter& interp, int32_t vocab, std::mt19937& rng) {
  StageData d;
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_int_distribution<int32_t> token(0, vocab - 1);
  const ir::Stage& st = interp.stage();
  for (int v : st.inputs) {
    RefTensor t = RefTensor::zeros(interp.shape_of(v));
    if (st.values[v].type.dtype == ir::DType::i32) {
      t.data.clear();
      for (int64_t i = 0; i < t.elements(); ++i) t.ints.push_back(token(rng));
    } else {
      for (double& x : t.data) x = normal(rng);
    }
    d.inputs[v] = std::move(t);
  }
  for (const ir::Param& p : st.params) {
    RefTensor t = RefTensor::zeros(interp.shape_of(p.value));
    for (double& x : t.data)
      x = p.init.kind == ir::Init::Kind::ones ? 1.0 : p.init.kind == ir::Init::Kind::zeros ? 0.0 : 0.02 * normal(rng);
    d.params[p.value] = std::move(t);
  }
  return d;
}

class ReferenceInterpreterTiny : public ::testing::Test {
 protected:
  void SetUp() override { module = frontend::load_model(horizon::testing::source_path("models/tiny.json")); }
  const ir::Stage& stage(const char* name) {
    const ir::Stage* s = module.find_stage(name);
    EXPECT_NE(s, nullptr) << name;
    return *s;
  }
  ir::Module module;
  std::mt19937 rng{7};
};

TEST_F(ReferenceInterpreterTiny, BlockGivesFiniteValuesOfTheIrShapes) {
  const int64_t B = 2, S = 5;
  const reference::ReferenceInterpreter interp(stage("block"), B, S);
  StageData d = random_stage_data(interp, 256, rng);
  const std::vector<RefTensor> values = interp.run(d.inputs, d.params);
  ASSERT_EQ(values.size(), interp.stage().values.size());
  for (size_t v = 0; v < values.size(); ++v) {
    EXPECT_EQ(values[v].shape, interp.shape_of(static_cast<int>(v))) << interp.stage().values[v].name;
    for (double x : values[v].data) ASSERT_TRUE(std::isfinite(x)) << interp.stage().values[v].name;
  }
  const int y = interp.stage().outputs.at(0), x = interp.stage().inputs.at(0);
  EXPECT_EQ(values[y].shape, (std::vector<int64_t>{B, S, 256}));
  EXPECT_NE(values[y].data, values[x].data);  // the block did something
}

TEST_F(ReferenceInterpreterTiny, BlockWithZeroOutputProjectionsIsTheIdentity) {
  // Both residual branches end in o_proj / down_proj: zero them and y == x exactly.
  const reference::ReferenceInterpreter interp(stage("block"), 1, 3);
  StageData d = random_stage_data(interp, 256, rng);
  for (const char* name : {"o_proj", "down_proj"}) {
    const int v = interp.stage().find_value(name);
    ASSERT_GE(v, 0) << name;
    for (double& w : d.params.at(v).data) w = 0.0;
  }
  const std::vector<RefTensor> values = interp.run(d.inputs, d.params);
  EXPECT_EQ(values[interp.stage().outputs.at(0)].data, values[interp.stage().inputs.at(0)].data);
}

TEST_F(ReferenceInterpreterTiny, HeadWithZeroLmHeadGivesLogVocab) {
  const reference::ReferenceInterpreter interp(stage("head"), 2, 4);
  StageData d = random_stage_data(interp, 256, rng);
  const int lm_head = interp.stage().find_value("lm_head");
  ASSERT_GE(lm_head, 0);
  for (double& w : d.params.at(lm_head).data) w = 0.0;
  const std::vector<RefTensor> values = interp.run(d.inputs, d.params);
  const RefTensor& loss = values[interp.stage().outputs.at(0)];
  EXPECT_TRUE(loss.shape.empty());
  ASSERT_EQ(loss.data.size(), 1u);
  EXPECT_NEAR(loss.data[0], std::log(256.0), 1e-12);
}

TEST_F(ReferenceInterpreterTiny, RejectsMissingAndMisshapedTensors) {
  const reference::ReferenceInterpreter interp(stage("block"), 1, 2);
  StageData d = random_stage_data(interp, 256, rng);
  StageData missing = d;
  missing.params.erase(interp.stage().find_value("q_proj"));
  try {
    interp.run(missing.inputs, missing.params);
    ADD_FAILURE() << "a missing parameter was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("%q_proj"), std::string::npos) << e.what();
  }
  StageData wrong = d;
  wrong.inputs.begin()->second = RefTensor::zeros({1, 3, 256});
  EXPECT_THROW(interp.run(wrong.inputs, wrong.params), std::invalid_argument);
}

}  // namespace
}  // namespace horizon
