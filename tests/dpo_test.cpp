// DPO end to end on the CPU backend: the loss, TRL's reward metrics and every
// parameter gradient of a DPO step against a float64 evaluation of TRL's
// formula, whose per-sequence log-probabilities and their gradients come
// from the plain language-model path (mean cross-entropy of one row times its
// token count): an independent route through well-tested kernels. A planted
// bug in the reference must be caught. Also: preference rows, pairs in
// batches, bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <sstream>

#include "data/byte_tokenizer.h"
#include "data/document_loader.h"
#include "data/preference_pairs.h"
#include "data/preference_sampler.h"
#include "frontend/model_json.h"
#include "ir/lm_head_loss.h"
#include "ir/printer.h"
#include "passes/lower.h"
#include "passes/schedule_pipeline.h"
#include "runtime/cpu/cpu_model.h"
#include "runtime/cpu/stage_executor.h"
#include "runtime/preference_metrics.h"
#include "runtime/schedule_executor.h"
#include "support/random.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

constexpr int64_t kB = 4, kS = 10;  // two pairs

struct Pairs {
  std::vector<int32_t> tokens, targets;
  std::vector<float> reference;
};

/// Rows 2k, 2k+1: a shared prompt of 3 tokens, then different responses with loss.
Pairs make_pairs(uint64_t seed) {
  Rng rng(seed);
  Pairs p;
  p.tokens.resize(kB * kS);
  p.targets.assign(kB * kS, -1);
  for (int64_t k = 0; k < kB / 2; ++k)
    for (int64_t i = 0; i < kS; ++i) {
      const int32_t prompt = static_cast<int32_t>(rng.below(256));
      p.tokens[2 * k * kS + i] = i < 3 ? prompt : static_cast<int32_t>(rng.below(256));
      p.tokens[(2 * k + 1) * kS + i] = i < 3 ? prompt : static_cast<int32_t>(rng.below(256));
    }
  for (int64_t r = 0; r < kB; ++r)
    for (int64_t i = 2; i < kS - 1 - r % 2; ++i) p.targets[r * kS + i] = p.tokens[r * kS + i + 1];
  return p;
}

struct DpoSetup {
  ir::Module lm, dpo;
  std::unique_ptr<runtime::HostStore> store;
  DpoSetup(const passes::PreferenceLoss& loss) {
    lm = frontend::load_model(testing::source_path("models/tiny.json"));
    dpo = lm;
    passes::lower(lm);
    passes::LowerOptions o;
    o.preference = loss;
    passes::lower(dpo, o);
    store = std::make_unique<runtime::HostStore>(dpo, codegen::cpu::MomentType::f32);
    store->init_random(3);
  }
  std::vector<std::vector<float>> zero_grads() const {
    std::vector<std::vector<float>> g;
    for (const auto& t : store->tensors()) g.emplace_back(static_cast<size_t>(t.elements), 0.0f);
    return g;
  }
};

enum class Bug { none, swapped_pair, no_label_smoothing };

struct Expected {
  double loss = 0;
  std::vector<double> logps;
  runtime::NamedMetrics metrics;
  std::vector<std::vector<double>> grads;
};

/// TRL's DPO in float64: policy log-probabilities (IPO: per-token means) from
/// the language-model path, then its loss, rewards and the chain rule.
Expected trl_reference(const DpoSetup& s, const Pairs& p, const passes::PreferenceLoss& d, Bug bug) {
  runtime::CpuModel lm(s.lm, *s.store);
  Expected e;
  std::vector<std::vector<std::vector<float>>> row_grads;
  for (int64_t r = 0; r < kB; ++r) {
    auto g = s.zero_grads();
    const int32_t* targets = p.targets.data() + r * kS;
    const double n = static_cast<double>(std::count_if(targets, targets + kS, [](int32_t t) { return t >= 0; }));
    const double mean_ce = lm.forward_backward(p.tokens.data() + r * kS, targets, 1, kS, g);
    const double per = d.ipo ? 1.0 : n;  // d logp / d(mean CE)
    e.logps.push_back(-mean_ce * per);
    for (auto& t : g)
      for (float& v : t) v = static_cast<float>(-v * per);
    row_grads.push_back(std::move(g));
  }
  const int64_t pairs = kB / 2;
  std::vector<double> coef(kB, 0.0);
  double chosen = 0, rejected = 0, correct = 0;
  const double smoothing = bug == Bug::no_label_smoothing ? 0.0 : d.label_smoothing;
  for (int64_t k = 0; k < pairs; ++k) {
    int64_t c = 2 * k, r = 2 * k + 1;
    if (bug == Bug::swapped_pair) std::swap(c, r);
    const double pc = e.logps[c], pr = e.logps[r], rc = p.reference[c], rr = p.reference[r];
    const double z = (pc - pr) - (rc - rr);
    const double bz = d.beta * z;
    auto log_sigmoid = [](double x) { return -std::log1p(std::exp(-x)); };
    auto sigmoid = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
    double loss, dz;
    if (d.ipo) {
      loss = (z - 1.0 / (2.0 * d.beta)) * (z - 1.0 / (2.0 * d.beta));
      dz = 2.0 * (z - 1.0 / (2.0 * d.beta));
    } else {
      loss = -log_sigmoid(bz) * (1.0 - smoothing) - log_sigmoid(-bz) * smoothing;
      dz = -(1.0 - smoothing) * d.beta * sigmoid(-bz) + smoothing * d.beta * sigmoid(bz);
    }
    e.loss += loss / pairs;
    coef[c] = dz / pairs;
    coef[r] = -dz / pairs;
    const double cr = d.beta * (pc - rc), rr_ = d.beta * (pr - rr);
    chosen += cr;
    rejected += rr_;
    correct += cr > rr_;
  }
  e.metrics = {{"rewards/chosen", chosen / pairs},
               {"rewards/rejected", rejected / pairs},
               {"rewards/accuracies", correct / pairs},
               {"rewards/margins", (chosen - rejected) / pairs}};
  for (size_t t = 0; t < s.store->tensors().size(); ++t) {
    std::vector<double> g(row_grads[0][t].size(), 0.0);
    for (int64_t r = 0; r < kB; ++r)
      for (size_t i = 0; i < g.size(); ++i) g[i] += coef[r] * row_grads[r][t][i];
    e.grads.push_back(std::move(g));
  }
  return e;
}

struct Measured {
  double loss = 0;
  std::vector<float> logps;
  runtime::NamedMetrics metrics;
  std::vector<std::vector<float>> grads;
};

/// One DPO forward and backward over the batch in `micro` micro-batches.
Measured run_dpo(const DpoSetup& s, const Pairs& p, int64_t micro, double beta) {
  runtime::CpuModel model(s.dpo, *s.store);
  Measured m;
  m.grads = s.zero_grads();
  runtime::PreferenceRewards rewards(beta);
  const int64_t rows = kB / micro;
  for (int64_t k = 0; k < micro; ++k) {
    runtime::BatchView v{
        p.tokens.data() + k * rows * kS, p.targets.data() + k * rows * kS, nullptr, nullptr, rows, kS, kB / 2};
    v.reference = p.reference.data() + k * rows;
    m.loss += model.forward_backward(v, m.grads);
    const std::vector<float>& lp = model.last_sequence_logprobs();
    m.logps.insert(m.logps.end(), lp.begin(), lp.end());
    rewards.add(lp.data(), v.reference, rows);
  }
  m.metrics = rewards.metrics();
  return m;
}

/// The largest relative disagreement of loss, log-probabilities, metrics and
/// gradients (relative L2 per tensor, with a small absolute floor).
double disagreement(const Measured& m, const Expected& e, std::string* worst) {
  double err = 0;
  auto note = [&](double v, const std::string& what) {
    if (v > err) {
      err = v;
      *worst = what;
    }
  };
  note(std::fabs(m.loss - e.loss) / std::max(1e-3, std::fabs(e.loss)), "loss");
  for (size_t r = 0; r < e.logps.size(); ++r)
    note(std::fabs(m.logps[r] - e.logps[r]) / std::max(1.0, std::fabs(e.logps[r])), "logp row " + std::to_string(r));
  for (size_t k = 0; k < e.metrics.size(); ++k)
    note(std::fabs(m.metrics[k].second - e.metrics[k].second) / std::max(1e-2, std::fabs(e.metrics[k].second)),
         e.metrics[k].first);
  for (size_t t = 0; t < e.grads.size(); ++t) {
    double num = 0, den = 0;
    for (size_t i = 0; i < e.grads[t].size(); ++i) {
      num += (m.grads[t][i] - e.grads[t][i]) * (m.grads[t][i] - e.grads[t][i]);
      den += e.grads[t][i] * e.grads[t][i];
    }
    note(std::sqrt(num) / (std::sqrt(den) + 1e-6), "gradient " + std::to_string(t));
  }
  return err;
}

Pairs with_reference(Pairs p, const DpoSetup& s, uint64_t seed) {
  // The reference near the policy, so every pair's z is of order one.
  runtime::CpuModel model(s.dpo, *s.store);
  std::vector<float> zeros(kB, 0.0f);
  runtime::BatchView v{p.tokens.data(), p.targets.data(), nullptr, nullptr, kB, kS, -1};
  v.reference = zeros.data();
  p.reference = model.sequence_logprobs(v);
  Rng rng(seed);
  for (float& r : p.reference) r += static_cast<float>(3.0 * rng.normal());
  return p;
}

struct LossCase {
  const char* name;
  passes::PreferenceLoss loss;
};

class DpoVsTrl : public ::testing::TestWithParam<LossCase> {};

TEST_P(DpoVsTrl, LossMetricsAndEveryGradient) {
  const passes::PreferenceLoss d = GetParam().loss;
  DpoSetup s(d);
  const Pairs p = with_reference(make_pairs(7), s, 8);
  const Expected want = trl_reference(s, p, d, Bug::none);
  for (int64_t micro : {1, 2}) {
    std::string worst;
    const double err = disagreement(run_dpo(s, p, micro, d.beta), want, &worst);
    EXPECT_LT(err, 2e-4) << micro << " micro-batch(es): worst " << worst;
  }
  // Planted bugs in the reference are caught.
  for (Bug bug : {Bug::swapped_pair, Bug::no_label_smoothing}) {
    if (bug == Bug::no_label_smoothing && d.label_smoothing == 0) continue;
    std::string worst;
    EXPECT_GT(disagreement(run_dpo(s, p, 1, d.beta), trl_reference(s, p, d, bug), &worst), 1e-2);
  }
}

INSTANTIATE_TEST_SUITE_P(Losses, DpoVsTrl,
                         ::testing::Values(LossCase{"sigmoid", {0.1, 0.0, false}},
                                           LossCase{"smoothed", {0.5, 0.2, false}}, LossCase{"ipo", {0.1, 0.0, true}}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Dpo, TrainerStepReportsTrlMetricsAndSkipsNothing) {
  const passes::PreferenceLoss d{0.1, 0.0, false};
  DpoSetup s(d);
  const Pairs p = with_reference(make_pairs(9), s, 10);
  const Expected want = trl_reference(s, p, d, Bug::none);
  runtime::TrainConfig cfg;
  cfg.micro_batches = 2;
  auto step = runtime::make_unstreamed_step(s.dpo, *s.store, cfg);
  runtime::TokenBatch b{kB, kS, p.tokens, p.targets, {}, {}, p.reference};
  const runtime::StepResult r = step->step(b, 1e-3f);
  EXPECT_NEAR(r.loss, want.loss, 1e-4 * std::max(1.0, want.loss));
  ASSERT_EQ(r.extra.size(), 4u);
  for (size_t k = 0; k < 4; ++k) {
    EXPECT_EQ(r.extra[k].first, want.metrics[k].first);
    EXPECT_NEAR(r.extra[k].second, want.metrics[k].second, 1e-4 + 1e-4 * std::fabs(want.metrics[k].second));
  }
  // A batch without the reference channel is refused.
  runtime::TokenBatch bare{kB, kS, p.tokens, p.targets, {}, {}, {}};
  testing::expect_user_error([&] { step->step(bare, 1e-3f); }, {"reference log-probability"});
}

// The streamed schedule on the emulated device (--stream) carries the
// reference in and the policy log-probabilities out: two steps give the
// unstreamed step's losses, metrics and weights.
TEST(Dpo, StreamedStepMatchesTheUnstreamedOne) {
  const passes::PreferenceLoss d{0.1, 0.1, false};
  for (int64_t micro : {1, 2}) {
    for (int64_t resident : {0, 2}) {
      SCOPED_TRACE(std::to_string(micro) + " micro-batch(es), " + std::to_string(resident) + " resident");
      DpoSetup a(d), b(d);
      const Pairs p = with_reference(make_pairs(11), a, 12);
      runtime::TrainConfig cfg;
      cfg.micro_batches = micro;
      passes::StreamingOptions o;
      o.batch = kB;
      o.seq = kS;
      o.micro_batches = micro;
      o.clip = true;
      o.resident = resident;
      o.bytes_per_param = b.store->bytes_per_parameter();
      const ir::Schedule schedule = passes::lower_to_schedule(b.dpo, o);
      auto unstreamed = runtime::make_unstreamed_step(a.dpo, *a.store, cfg);
      auto streamed = runtime::make_streamed_step(schedule, b.dpo, *b.store, cfg);
      for (int step = 0; step < 2; ++step) {
        runtime::TokenBatch batch{kB, kS, p.tokens, p.targets, {}, {}, p.reference};
        const runtime::StepResult ra = unstreamed->step(batch, 1e-3f), rb = streamed->step(batch, 1e-3f);
        EXPECT_NEAR(ra.loss, rb.loss, 1e-6 * std::max(1.0, ra.loss));
        ASSERT_EQ(rb.extra.size(), 4u);
        for (size_t k = 0; k < 4; ++k) EXPECT_NEAR(ra.extra[k].second, rb.extra[k].second, 1e-5) << ra.extra[k].first;
      }
      unstreamed->finish_updates();
      streamed->finish_updates();
      for (size_t t = 0; t < a.store->tensors().size(); ++t) {
        std::vector<float> wa(static_cast<size_t>(a.store->tensors()[t].elements)), wb(wa.size());
        a.store->get_master(static_cast<int>(t), wa.data());
        b.store->get_master(static_cast<int>(t), wb.data());
        double worst = 0;
        for (size_t i = 0; i < wa.size(); ++i) worst = std::max(worst, static_cast<double>(std::fabs(wa[i] - wb[i])));
        EXPECT_LT(worst, 1e-6) << a.store->tensors()[t].name;
      }
    }
  }
}

// The head cut at its log-probabilities (what the GPU reference pass runs)
// computes the DPO head's own %policy_logps.
TEST(Dpo, SequenceLogprobStageIsTheHeadsForwardCut) {
  DpoSetup s({0.1, 0.0, true});
  const Pairs p = make_pairs(15);
  const ir::Stage& head = *s.dpo.find_stage("head");
  const ir::Stage cut = ir::sequence_logprob_stage(head);
  ASSERT_EQ(cut.inputs.size(), 2u);
  ASSERT_EQ(cut.outputs.size(), 1u);
  EXPECT_EQ(cut.values[static_cast<size_t>(cut.outputs[0])].name, "policy_logps");
  // Weights of the head region, and a random last hidden state.
  std::vector<std::vector<float>> weights;
  std::vector<const float*> params;
  for (size_t k = 0; k < head.params.size(); ++k) {
    const int t = s.store->tensor_of("head", 0, static_cast<int>(k));
    weights.emplace_back(static_cast<size_t>(s.store->tensors()[static_cast<size_t>(t)].elements));
    s.store->get_working(t, weights.back().data());
    params.push_back(weights.back().data());
  }
  const int64_t C = head.values[static_cast<size_t>(head.inputs[0])].type.shape.back().value;
  Rng rng(16);
  std::vector<float> x(static_cast<size_t>(kB * kS * C));
  for (float& v : x) v = static_cast<float>(rng.normal());
  std::vector<float> zeros(kB, 0.0f);
  runtime::CpuStageExecutor full(head, {"policy_logps"}), part(cut);
  const auto want = full.run(kB, kS, {x.data(), p.targets.data(), zeros.data()}, params);
  const auto got = part.run(kB, kS, {x.data(), p.targets.data()}, params);
  EXPECT_EQ(got.at(0).data, want.at(1).data);
  EXPECT_THROW(ir::sequence_logprob_stage(*s.lm.find_stage("head")), std::invalid_argument);
}

TEST(Dpo, PassRewritesTheHeadAndExportUndoesIt) {
  ir::Module m = frontend::load_model(testing::source_path("models/tiny.json"));
  ir::Module before = m;
  passes::LowerOptions o;
  o.preference = passes::PreferenceLoss{0.1, 0.0, false};
  o.stop_after = "add_preference_loss";
  passes::lower(m, o);
  const std::string text = ir::print_module(m);
  EXPECT_NE(text.find("sequence_logprob"), std::string::npos) << text;
  EXPECT_NE(text.find("dpo_loss"), std::string::npos);
  EXPECT_EQ(text.find("cross_entropy"), std::string::npos);
  EXPECT_FALSE(passes::add_preference_loss(m, *o.preference));  // already DPO
  testing::expect_user_error([&] { passes::add_preference_loss(before, {0.0, 0.0, false}); }, {"--beta"});
  testing::expect_user_error([&] { passes::add_preference_loss(before, {0.1, 0.1, true}); }, {"ipo"});
}

// ---- data ----

data::ExampleOptions byte_options(const data::Tokenizer& tok) {
  data::ExampleOptions o;
  o.tokenizer = &tok;
  return o;
}

TEST(DpoData, StringRowsConcatenatePromptAndResponseWithLossOnTheResponse) {
  data::ByteTokenizer tok;
  const data::PreferenceRow row =
      data::parse_preference_row(R"({"prompt": "Q: ", "chosen": "yes", "rejected": "no!"})", "f.jsonl:1", {});
  const data::PreferencePair pair = data::build_preference_pair(row, byte_options(tok), "f.jsonl:1");
  ASSERT_EQ(pair.chosen.tokens.size(), 6u + (tok.eos_id() ? 1u : 0u));
  EXPECT_EQ(pair.chosen.tokens[3], 'y');
  EXPECT_EQ(std::vector<uint8_t>(pair.chosen.loss.begin(), pair.chosen.loss.begin() + 6),
            (std::vector<uint8_t>{0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(pair.rejected.tokens[5], '!');
}

TEST(DpoData, BadRowsNameFileLineAndField) {
  const data::RowFields f;
  testing::expect_user_error([&] { data::parse_preference_row(R"({"prompt": "a", "chosen": "b"})", "p.jsonl:4", f); },
                             {"p.jsonl:4", "rejected", "is missing"});
  testing::expect_user_error([&] { data::parse_preference_row(R"({"chosen": "b", "rejected": "c"})", "p.jsonl:5", f); },
                             {"p.jsonl:5", "prompt"});
  testing::expect_user_error(
      [&] { data::parse_preference_row(R"({"prompt": "a", "chosen": 3, "rejected": "c"})", "p.jsonl:6", f); },
      {"p.jsonl:6", "chosen", "expected a string"});
  testing::expect_user_error(
      [&] {
        data::parse_preference_row(R"({"prompt": [{"role": "user"}], "chosen": [], "rejected": []})", "p.jsonl:7", f);
      },
      {"p.jsonl:7", "content"});
  testing::expect_user_error([&] { data::parse_preference_row("{not json", "p.jsonl:8", f); }, {"p.jsonl:8", "JSON"});
  data::ByteTokenizer tok;
  const data::PreferenceRow chat = data::parse_preference_row(
      R"({"prompt": [{"role": "user", "content": "hi"}], "chosen": [{"role": "assistant", "content": "a"}],
          "rejected": [{"role": "assistant", "content": "b"}]})",
      "p.jsonl:9", f);
  testing::expect_user_error([&] { data::build_preference_pair(chat, byte_options(tok), "p.jsonl:9"); },
                             {"p.jsonl:9", "chat template"});
}

TEST(DpoData, PairsShareABatchInAdjacentRows) {
  testing::TempDir dir;
  std::string rows;
  for (int i = 0; i < 5; ++i)
    rows += R"({"prompt": "p)" + std::to_string(i) + R"( ", "chosen": "good )" + std::to_string(i) +
            R"(", "rejected": "bad )" + std::string(static_cast<size_t>(i + 1), 'x') + "\"}\n";
  rows += R"({"prompt": "long ", "chosen": "c", "rejected": ")" + std::string(100, 'y') + "\"}\n";
  const std::string path = dir.write("prefs.jsonl", rows);
  data::ByteTokenizer tok;
  data::LoadOptions o;
  o.example = byte_options(tok);
  o.preference = true;
  o.threads = 2;
  data::DataStats stats;
  auto docs = std::make_shared<data::DocumentSet>(data::load_documents(data::list_data_files(path), o, stats));
  ASSERT_EQ(docs->size(), 12);
  data::PreferenceSampler sampler(docs, 4, 24, 1);
  EXPECT_EQ(sampler.pairs(), 5);
  EXPECT_EQ(sampler.dropped_pairs(), 1);  // the 100-byte rejected response does not fit
  for (int step = 0; step < 4; ++step) {
    const data::Batch b = sampler.next();
    ASSERT_EQ(b.documents.size(), 4u);
    for (int k = 0; k < 2; ++k) {
      EXPECT_EQ(b.documents[2 * k] % 2, 0);
      EXPECT_EQ(b.documents[2 * k + 1], b.documents[2 * k] + 1);
      // The prompt carries no loss; the first response token is a target.
      const int32_t* targets = b.targets.data() + 2 * k * 24;
      EXPECT_EQ(targets[0], -1);
      EXPECT_EQ(targets[2], 'g');  // "pN " then "good": token 2 predicts 'g'
    }
  }
  size_t seen = 0;
  for (const data::Batch& b : sampler.all_batches()) seen += b.documents.size();
  EXPECT_EQ(seen, 12u);  // 5 pairs, 2 a batch: 3 batches of 4 rows, the last padded
  testing::expect_user_error([&] { data::PreferenceSampler(docs, 3, 24, 1); }, {"even --batch"});
  testing::expect_user_error([&] { data::PreferenceSampler(docs, 4, 4, 1); }, {"no preference pair fits"});
}

}  // namespace
}  // namespace horizon

namespace horizon {
namespace {

TEST(DpoCommand, TrainsCachesTheReferenceAndRefusesWhatItCannotDo) {
  testing::TempDir dir;
  const std::string data =
      dir.write("prefs.jsonl", R"({"prompt": "The sky is ", "chosen": "blue.", "rejected": "green."}
{"prompt": "2+2=", "chosen": "4", "rejected": "5"}
)");
  const std::string model = testing::source_path("models/tiny.json");
  const std::string common = "train " + model + " --data " + data + " --batch 2 --seq 24 --steps 2 --device cpu " +
                             "--cache-dir " + dir.path() + "/cache";
  testing::CommandResult first =
      testing::run_horizon(common + " --objective dpo --beta 0.1 --save " + dir.path() + "/run");
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  EXPECT_NE(first.out.find("reference log-probabilities: 4 sequences"), std::string::npos) << first.out;
  EXPECT_NE(first.out.find("rewards/accuracies"), std::string::npos) << first.out;
  const std::string metrics = testing::read_file(dir.path() + "/run/metrics.jsonl");
  EXPECT_NE(metrics.find("\"rewards/margins\""), std::string::npos) << metrics;
  testing::CommandResult second =
      testing::run_horizon(common + " --loss-type ipo");  // --objective auto finds the pairs
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE(second.out.find("reference log-probabilities: 4 sequences"), std::string::npos)
      << "ipo uses mean log-probabilities: another cache entry\n"
      << second.out;
  testing::CommandResult third = testing::run_horizon(common);
  EXPECT_NE(third.out.find("reference log-probabilities: cache hit"), std::string::npos) << third.out;

  testing::CommandResult streamed = testing::run_horizon(common + " --stream");  // the emulated device
  ASSERT_EQ(streamed.exit_code, 0) << streamed.err;
  EXPECT_NE(streamed.out.find("rewards/margins"), std::string::npos) << streamed.out;
  testing::CommandResult odd = testing::run_horizon("train " + model + " --data " + data +
                                                    " --batch 3 --seq 24 --steps 1 --device cpu --cache-dir none");
  EXPECT_NE(odd.err.find("even --batch"), std::string::npos) << odd.err;
  testing::CommandResult lm = testing::run_horizon(common + " --objective lm --beta 0.2");
  EXPECT_NE(lm.err.find("--objective dpo"), std::string::npos) << lm.err;
}

// A resumed DPO run reads the cached reference and continues at the exact
// pair: its losses and rewards are the uninterrupted run's.
TEST(DpoCommand, ResumeContinuesExactly) {
  testing::TempDir dir;
  std::string rows;
  for (int i = 0; i < 6; ++i)
    rows += "{\"prompt\": \"Q" + std::to_string(i) + ": \", \"chosen\": \"yes " + std::to_string(i) +
            "\", \"rejected\": \"no" + std::string(static_cast<size_t>(i), '!') + "\"}\n";
  const std::string data = dir.write("prefs.jsonl", rows);
  const std::string common = "train " + testing::source_path("models/tiny.json") + " --data " + data +
                             " --batch 2 --seq 24 --steps 4 --device cpu --cache-dir " + dir.path() + "/cache";
  const testing::CommandResult first = testing::run_horizon(common + " --save-every 2 --save " + dir.path() + "/whole");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  ASSERT_EQ(testing::run_horizon(common + " --save-every 2 --save " + dir.path() + "/cut").exit_code, 0);
  std::filesystem::remove_all(dir.path() + "/cut/checkpoint-4");
  const testing::CommandResult resumed =
      testing::run_horizon(common + " --resume " + dir.path() + "/cut --save " + dir.path() + "/cut");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.out.find("reference log-probabilities: cache hit"), std::string::npos) << resumed.out;
  auto numbers = [](const std::string& metrics) {
    std::vector<std::string> out;
    std::istringstream in(metrics);
    for (std::string line; std::getline(in, line);) {
      const frontend::Json j = frontend::Json::parse(line);
      out.push_back(j["loss"].dump() + " " + j["rewards/chosen"].dump() + " " + j["rewards/margins"].dump());
    }
    return out;
  };
  const auto whole = numbers(testing::read_file(dir.path() + "/whole/metrics.jsonl"));
  EXPECT_EQ(whole.size(), 4u);
  EXPECT_EQ(whole, numbers(testing::read_file(dir.path() + "/cut/metrics.jsonl")));
}

}  // namespace
}  // namespace horizon

#ifdef HORIZON_HAVE_CUDA
#include "runtime/cuda/cuda_evaluator.h"
#include "runtime/cuda/cuda_step.h"

namespace horizon {
namespace {

// On a GPU: the streamed CUDA step (reference uploaded, policy log-probabilities
// read back, the DPO kernels dividing by the step's pairs) against the
// unstreamed CPU step — bf16 GEMMs, so a bf16-sized tolerance.
TEST(Dpo, CudaStepMatchesTheUnstreamedOne) {
  std::string why;
  if (runtime::cuda::cuda_device_count(&why) == 0) GTEST_SKIP() << "no CUDA device (" << why << ")";
  const passes::PreferenceLoss d{0.1, 0.1, false};
  for (int64_t micro : {1, 2}) {
    SCOPED_TRACE(std::to_string(micro) + " micro-batch(es)");
    DpoSetup a(d), b(d);
    const Pairs p = with_reference(make_pairs(13), a, 14);
    runtime::TrainConfig cfg;
    cfg.micro_batches = micro;
    passes::StreamingOptions o;
    o.batch = kB;
    o.seq = kS;
    o.micro_batches = micro;
    o.clip = true;
    o.resident = 0;
    o.bytes_per_param = b.store->bytes_per_parameter();
    const ir::Schedule schedule = passes::lower_to_schedule(b.dpo, o);
    auto cpu = runtime::make_unstreamed_step(a.dpo, *a.store, cfg);
    auto gpu = runtime::cuda::make_cuda_step(schedule, b.dpo, *b.store, cfg);
    runtime::TokenBatch batch{kB, kS, p.tokens, p.targets, {}, {}, p.reference};
    const runtime::StepResult ra = cpu->step(batch, 1e-3f), rb = gpu->step(batch, 1e-3f);
    EXPECT_NEAR(ra.loss, rb.loss, 2e-2 * std::max(1.0, ra.loss));
    EXPECT_NEAR(ra.grad_norm, rb.grad_norm, 2e-2 * ra.grad_norm);
    ASSERT_EQ(rb.extra.size(), 4u);
    for (size_t k = 0; k < 4; ++k)
      EXPECT_NEAR(ra.extra[k].second, rb.extra[k].second, 2e-2 * std::max(0.1, std::fabs(ra.extra[k].second)))
          << ra.extra[k].first;
  }
}

// On a GPU: the reference pass (CudaEvaluator::sequence_logprobs) against the CPU model's.
TEST(Dpo, CudaReferencePassMatchesTheCpu) {
  std::string why;
  if (runtime::cuda::cuda_device_count(&why) == 0) GTEST_SKIP() << "no CUDA device (" << why << ")";
  for (bool ipo : {false, true}) {
    DpoSetup s({0.1, 0.0, ipo});
    const Pairs p = make_pairs(17);
    runtime::CpuModel model(s.dpo, *s.store);
    std::vector<float> zeros(kB, 0.0f);
    runtime::BatchView v{p.tokens.data(), p.targets.data(), nullptr, nullptr, kB, kS, -1};
    v.reference = zeros.data();
    const std::vector<float> want = model.sequence_logprobs(v);
    runtime::cuda::CudaEvaluator gpu(s.dpo, *s.store, kB, kS);
    const std::vector<float> got = gpu.sequence_logprobs(runtime::TokenBatch{kB, kS, p.tokens, p.targets, {}, {}, {}});
    ASSERT_EQ(got.size(), want.size());
    for (size_t r = 0; r < want.size(); ++r) EXPECT_NEAR(got[r], want[r], 2e-2 * std::max(1.0f, std::fabs(want[r])));
  }
}

}  // namespace
}  // namespace horizon
#endif  // HORIZON_HAVE_CUDA
