// Packed documents and the step's loss normalization. A row that packs
// several documents (segment ids, positions restarting at 0) must give what
// the documents give run one by one: attention never crosses a document and
// rope sees each token's position within its document — checked on the
// float64 reference ops, the CPU kernels and the whole CPU model (GQA, a
// sliding window). The step's loss is the mean over the unmasked tokens of
// the whole step, so M micro-batches with uneven masks equal one batch.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "frontend/model_json.h"
#include "ir/printer.h"
#include "passes/add_document_inputs.h"
#include "passes/lower.h"
#include "passes/schedule_pipeline.h"
#include "runtime/cpu/cpu_model.h"
#include "runtime/cpu/kernels.h"
#include "runtime/reference/reference_ops.h"
#include "runtime/schedule_executor.h"
#include "runtime/trainer.h"
#include "support/error.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

using ir::Op;
using reference::RefTensor;

/// Documents of these lengths packed into one row.
const std::vector<int64_t> kDocs = {5, 9, 3, 15};

std::vector<int32_t> segments_of(const std::vector<int64_t>& docs) {
  std::vector<int32_t> s;
  for (size_t d = 0; d < docs.size(); ++d) s.insert(s.end(), static_cast<size_t>(docs[d]), static_cast<int32_t>(d));
  return s;
}

std::vector<int32_t> positions_of(const std::vector<int64_t>& docs) {
  std::vector<int32_t> p;
  for (int64_t len : docs)
    for (int64_t i = 0; i < len; ++i) p.push_back(static_cast<int32_t>(i));
  return p;
}

int64_t total(const std::vector<int64_t>& docs) {
  int64_t n = 0;
  for (int64_t d : docs) n += d;
  return n;
}

std::vector<float> random_floats(int64_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = normal(rng);
  return v;
}

RefTensor as_ref(const std::vector<float>& v, std::vector<int64_t> shape) {
  RefTensor t = RefTensor::zeros(std::move(shape));
  for (size_t i = 0; i < v.size(); ++i) t.data[i] = v[i];
  return t;
}

/// Rows [first, first + n) of a [S, width] tensor.
template <class T>
std::vector<T> rows(const std::vector<T>& v, int64_t first, int64_t n, int64_t width) {
  return std::vector<T>(v.begin() + first * width, v.begin() + (first + n) * width);
}

double rel_l2(const std::vector<double>& got, const std::vector<double>& want) {
  if (got.size() != want.size()) return std::numeric_limits<double>::infinity();
  double diff = 0, norm = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i])) return std::numeric_limits<double>::infinity();
    diff += (got[i] - want[i]) * (got[i] - want[i]);
    norm += want[i] * want[i];
  }
  return norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

std::vector<double> widen(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

struct AttentionCase {
  int64_t H, KVH, D, window;
  std::string str() const {
    return "H=" + std::to_string(H) + " KVH=" + std::to_string(KVH) + " D=" + std::to_string(D) +
           " window=" + std::to_string(window);
  }
  ir::Attrs attrs() const {
    ir::Attrs a{{"heads", H}, {"kv_heads", KVH}, {"head_dim", D}};
    if (window > 0) a["window"] = window;
    return a;
  }
};

const AttentionCase kCases[] = {{4, 2, 8, 0}, {4, 1, 16, 0}, {2, 2, 8, 4}, {4, 2, 8, 7}};

/// Packed-row attention: out, dq, dk, dv (fp32 CPU kernels, or the float64 reference).
struct AttentionRun {
  std::vector<double> out, dq, dk, dv;
};

AttentionRun cpu_attention(const AttentionCase& c, int64_t B, int64_t S, const std::vector<float>& q,
                           const std::vector<float>& k, const std::vector<float>& v, const std::vector<float>& dout,
                           const int32_t* segments) {
  std::vector<float> out(q.size()), dq(q.size()), dk(k.size()), dv(v.size());
  cpu::attention_forward(out.data(), q.data(), k.data(), v.data(), B, S, c.H, c.KVH, c.D, c.window, segments);
  cpu::attention_backward(dq.data(), dk.data(), dv.data(), dout.data(), q.data(), k.data(), v.data(), B, S, c.H, c.KVH,
                          c.D, c.window, segments);
  return {widen(out), widen(dq), widen(dk), widen(dv)};
}

AttentionRun ref_attention(const AttentionCase& c, int64_t B, int64_t S, const std::vector<float>& q,
                           const std::vector<float>& k, const std::vector<float>& v, const std::vector<float>& dout,
                           const std::vector<int32_t>* segments) {
  const RefTensor rq = as_ref(q, {B, S, c.H * c.D}), rk = as_ref(k, {B, S, c.KVH * c.D});
  const RefTensor rv = as_ref(v, {B, S, c.KVH * c.D}), rd = as_ref(dout, {B, S, c.H * c.D});
  RefTensor seg;
  std::vector<const RefTensor*> fwd{&rq, &rk, &rv}, bwd{&rd, &rq, &rk, &rv};
  if (segments) {
    seg = RefTensor::integers({B, S}, *segments);
    fwd.push_back(&seg);
    bwd.push_back(&seg);
  }
  const auto out = reference::reference_op(Op::attention, fwd, c.attrs());
  const auto g = reference::reference_op(Op::attention_grad, bwd, c.attrs());
  return {out[0].data, g[0].data, g[1].data, g[2].data};
}

/// Runs `run` on the packed row and on each document alone, and returns the
/// worst relative L2 between the packed outputs and the documents' outputs.
template <class Run>
double packed_versus_alone(const AttentionCase& c, Run run, bool give_segments = true) {
  std::mt19937 rng(7);
  const int64_t S = total(kDocs), qw = c.H * c.D, kw = c.KVH * c.D;
  // Scaled so the softmax is far from uniform and a leak across documents shows.
  const std::vector<float> q = random_floats(S * qw, rng, 2.0f), k = random_floats(S * kw, rng, 2.0f);
  const std::vector<float> v = random_floats(S * kw, rng), dout = random_floats(S * qw, rng);
  const std::vector<int32_t> seg = segments_of(kDocs);
  const AttentionRun packed = run(c, S, q, k, v, dout, give_segments ? &seg : nullptr);
  AttentionRun alone;
  int64_t first = 0;
  for (int64_t len : kDocs) {
    const AttentionRun d = run(c, len, rows(q, first, len, qw), rows(k, first, len, kw), rows(v, first, len, kw),
                               rows(dout, first, len, qw), nullptr);
    for (auto [dst, src] : {std::pair{&alone.out, &d.out}, {&alone.dq, &d.dq}, {&alone.dk, &d.dk}, {&alone.dv, &d.dv}})
      dst->insert(dst->end(), src->begin(), src->end());
    first += len;
  }
  return std::max({rel_l2(packed.out, alone.out), rel_l2(packed.dq, alone.dq), rel_l2(packed.dk, alone.dk),
                   rel_l2(packed.dv, alone.dv)});
}

auto reference_run = [](const AttentionCase& c, int64_t S, const std::vector<float>& q, const std::vector<float>& k,
                        const std::vector<float>& v, const std::vector<float>& dout,
                        const std::vector<int32_t>* seg) { return ref_attention(c, 1, S, q, k, v, dout, seg); };
auto cpu_run = [](const AttentionCase& c, int64_t S, const std::vector<float>& q, const std::vector<float>& k,
                  const std::vector<float>& v, const std::vector<float>& dout, const std::vector<int32_t>* seg) {
  return cpu_attention(c, 1, S, q, k, v, dout, seg ? seg->data() : nullptr);
};

TEST(PackedDocuments, ReferenceAttentionOfAPackedRowIsEachDocumentAlone) {
  for (const AttentionCase& c : kCases) EXPECT_LT(packed_versus_alone(c, reference_run), 1e-12) << c.str();
}

// fp32: the online softmax's key tiles start at a document's first key in
// the packed row but at a multiple of the tile alone, so sums round
// differently; 1e-5 is the CPU kernel tolerance against the reference.
TEST(PackedDocuments, CpuAttentionOfAPackedRowIsEachDocumentAlone) {
  for (const AttentionCase& c : kCases) EXPECT_LT(packed_versus_alone(c, cpu_run), 1e-5) << c.str();
}

// The planted bug: attention that ignores the segment ids lets the later
// documents see the earlier ones, and the comparison must catch it.
TEST(PackedDocuments, AttentionIgnoringSegmentsIsCaught) {
  for (const AttentionCase& c : kCases) {
    EXPECT_GT(packed_versus_alone(c, reference_run, false), 1e-2) << c.str();
    EXPECT_GT(packed_versus_alone(c, cpu_run, false), 1e-2) << c.str();
  }
}

TEST(PackedDocuments, CpuAttentionWithSegmentsMatchesTheReference) {
  // Two rows packed differently, one of them a single document, and a row
  // whose documents are single tokens (each attends only to itself).
  const std::vector<int32_t> seg = [] {
    std::vector<int32_t> s = segments_of({4, 20, 1, 7});
    std::vector<int32_t> whole(32, 3);
    s.insert(s.end(), whole.begin(), whole.end());
    for (int32_t i = 0; i < 32; ++i) s.push_back(i);
    return s;
  }();
  const int64_t B = 3, S = 32;
  std::mt19937 rng(3);
  for (const AttentionCase& c : kCases) {
    const std::vector<float> q = random_floats(B * S * c.H * c.D, rng, 2.0f),
                             k = random_floats(B * S * c.KVH * c.D, rng, 2.0f);
    const std::vector<float> v = random_floats(B * S * c.KVH * c.D, rng), dout = random_floats(B * S * c.H * c.D, rng);
    const AttentionRun got = cpu_attention(c, B, S, q, k, v, dout, seg.data());
    const AttentionRun want = ref_attention(c, B, S, q, k, v, dout, &seg);
    EXPECT_LT(rel_l2(got.out, want.out), 1e-5) << c.str();
    EXPECT_LT(rel_l2(got.dq, want.dq), 1e-5) << c.str();
    EXPECT_LT(rel_l2(got.dk, want.dk), 1e-5) << c.str();
    EXPECT_LT(rel_l2(got.dv, want.dv), 1e-5) << c.str();
  }
}

TEST(PackedDocuments, SegmentsThatDecreaseAlongARowAreRefused) {
  const std::vector<int32_t> seg = {0, 0, 1, 0};
  std::vector<float> q(4 * 8, 0.5f), out(4 * 8);
  EXPECT_THROW(cpu::attention_forward(out.data(), q.data(), q.data(), q.data(), 1, 4, 1, 1, 8, 0, seg.data()),
               std::invalid_argument);
}

TEST(PackedDocuments, RopePositionsRestartPerDocument) {
  const int64_t H = 2, D = 8, S = total(kDocs), width = H * D;
  const cpu::RopeParams p{.theta = 10000.0};
  const ir::Attrs attrs{{"heads", H}, {"head_dim", D}, {"theta", 10000.0}};
  std::mt19937 rng(5);
  const std::vector<float> x = random_floats(S * width, rng);
  const std::vector<int32_t> pos = positions_of(kDocs);
  std::vector<float> packed(x.size()), back(x.size());
  cpu::rope_forward(packed.data(), x.data(), 1, S, H, D, p, pos.data());
  cpu::rope_backward(back.data(), x.data(), 1, S, H, D, p, pos.data());
  // Each document alone, at positions 0..len-1: the same bits.
  int64_t first = 0;
  for (int64_t len : kDocs) {
    const std::vector<float> doc = rows(x, first, len, width);
    std::vector<float> alone(doc.size()), alone_back(doc.size());
    cpu::rope_forward(alone.data(), doc.data(), 1, len, H, D, p);
    cpu::rope_backward(alone_back.data(), doc.data(), 1, len, H, D, p);
    EXPECT_EQ(rows(packed, first, len, width), alone) << "document at " << first;
    EXPECT_EQ(rows(back, first, len, width), alone_back) << "document at " << first;
    first += len;
  }
  // The float64 reference agrees.
  const RefTensor rx = as_ref(x, {1, S, width}), rpos = RefTensor::integers({1, S}, pos);
  EXPECT_LT(rel_l2(widen(packed), reference::reference_op(Op::rope, {&rx, &rpos}, attrs)[0].data), 1e-6);
  EXPECT_LT(rel_l2(widen(back), reference::reference_op(Op::rope_grad, {&rx, &rpos}, attrs)[0].data), 1e-6);
  // Positions past the row are a caller bug, refused.
  std::vector<int32_t> bad = pos;
  bad[3] = static_cast<int32_t>(S);
  EXPECT_THROW(cpu::rope_forward(packed.data(), x.data(), 1, S, H, D, p, bad.data()), std::invalid_argument);
}

// ---- the whole model ----

/// tiny-qwen (GQA: 4 heads over 2 kv heads), with a sliding window when
/// `window` > 0, lowered for packed documents or whole rows.
ir::Module tiny_qwen(bool packed, int64_t window) {
  ir::Module m = frontend::load_model(testing::source_path("models/tiny-qwen.json"));
  if (window > 0)
    for (ir::Instr& in : m.find_stage("block")->instrs)
      if (in.op == Op::attention) in.attrs["window"] = window;
  passes::LowerOptions o;
  o.packed_documents = packed;
  passes::lower(m, o);
  return m;
}

std::vector<std::vector<float>> zero_grads(const runtime::HostStore& store) {
  std::vector<std::vector<float>> g;
  for (const runtime::StoredTensor& t : store.tensors()) g.emplace_back(static_cast<size_t>(t.elements), 0.0f);
  return g;
}

TEST(PackedDocuments, ModelOnAPackedRowIsTheDocumentsAlone) {
  for (int64_t window : {0, 6}) {
    SCOPED_TRACE("window=" + std::to_string(window));
    const ir::Module packed_model = tiny_qwen(true, window), plain_model = tiny_qwen(false, window);
    runtime::HostStore store(packed_model, codegen::cpu::MomentType::bf16);
    store.init_random(3);
    const int64_t S = total(kDocs);
    std::mt19937 rng(9);
    std::vector<int32_t> tokens(static_cast<size_t>(S)), targets(static_cast<size_t>(S));
    for (int64_t i = 0; i < S; ++i) {
      tokens[static_cast<size_t>(i)] = static_cast<int32_t>(rng() % 256);
      // Masked spans (a prompt) in some documents.
      targets[static_cast<size_t>(i)] = i % 5 == 1 ? -1 : static_cast<int32_t>(rng() % 256);
    }
    const int64_t count = runtime::loss_count(targets.data(), S);
    const std::vector<int32_t> pos = positions_of(kDocs), seg = segments_of(kDocs);

    std::vector<std::vector<float>> packed = zero_grads(store);
    runtime::CpuModel packed_cpu(packed_model, store);
    const double packed_loss = packed_cpu.forward_backward(
        runtime::BatchView{tokens.data(), targets.data(), pos.data(), seg.data(), 1, S, -1}, packed);

    // Each document alone on the model compiled for whole rows, dividing by
    // the packed row's count: their sums are the packed row's loss and gradients.
    std::vector<std::vector<float>> alone = zero_grads(store);
    runtime::CpuModel plain_cpu(plain_model, store);
    double alone_loss = 0;
    int64_t first = 0;
    for (int64_t len : kDocs) {
      alone_loss += plain_cpu.forward_backward(
          runtime::BatchView{tokens.data() + first, targets.data() + first, nullptr, nullptr, 1, len, count}, alone);
      first += len;
    }
    // fp32 kernels on rows grouped differently (GEMM blocking, attention
    // tiles): equal up to rounding.
    EXPECT_NEAR(packed_loss, alone_loss, 1e-5 * std::abs(alone_loss));
    for (size_t t = 0; t < packed.size(); ++t)
      EXPECT_LT(rel_l2(widen(packed[t]), widen(alone[t])), 1e-4) << store.tensors()[t].name;

    // Without segments the packed row is one long document: very different.
    std::vector<std::vector<float>> leaky = zero_grads(store);
    const double leaky_loss = packed_cpu.forward_backward(
        runtime::BatchView{tokens.data(), targets.data(), nullptr, nullptr, 1, S, -1}, leaky);
    double worst = 0;
    for (size_t t = 0; t < packed.size(); ++t) worst = std::max(worst, rel_l2(widen(leaky[t]), widen(alone[t])));
    EXPECT_GT(worst, 1e-2) << "whole-row attention was not caught (loss " << leaky_loss << ")";
  }
}

TEST(PackedDocuments, PackedBatchOnAWholeRowModelIsRefused) {
  const ir::Module m = tiny_qwen(false, 0);
  runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
  store.init_random(3);
  const int64_t S = total(kDocs);
  const std::vector<int32_t> tokens(static_cast<size_t>(S), 1), pos = positions_of(kDocs), seg = segments_of(kDocs);
  runtime::CpuModel cpu(m, store);
  EXPECT_THROW(cpu.loss(runtime::BatchView{tokens.data(), tokens.data(), pos.data(), seg.data(), 1, S, -1}), UserError);
}

TEST(PackedDocuments, PassAddsTheInputsAndOperandsOnce) {
  ir::Module m = frontend::load_model(testing::source_path("models/tiny.json"));
  ASSERT_TRUE(passes::add_document_inputs(m));
  EXPECT_FALSE(passes::add_document_inputs(m)) << "a second run must change nothing";
  const std::string text = ir::print_module(m);
  EXPECT_NE(text.find("in %positions : i32[B, S]"), std::string::npos) << text;
  EXPECT_NE(text.find("in %segments : i32[B, S]"), std::string::npos) << text;
  EXPECT_NE(text.find("rope(%q, %positions)"), std::string::npos) << text;
  EXPECT_NE(text.find("attention(%q_rot, %k_rot, %v, %segments)"), std::string::npos) << text;
  passes::lower(m);
  const std::string lowered = ir::print_module(m);
  EXPECT_NE(lowered.find("rope_grad(%d_q_rot, %positions)"), std::string::npos) << lowered;
  EXPECT_NE(lowered.find("attention_grad(%d_attn, %q_rot, %k_rot, %v, %segments)"), std::string::npos) << lowered;
  // Learned positions cannot follow packed documents.
  ir::Module gpt2 = frontend::load_model(testing::source_path("models/tiny-gpt2.json"));
  EXPECT_THROW(passes::add_document_inputs(gpt2), UserError);
}

// ---- the step's loss: the mean over all its unmasked tokens ----

/// A batch of 4 rows of 16 whose masks fall unevenly: row 0 fully masked,
/// row 1 one target, rows 2 and 3 mostly unmasked.
runtime::TokenBatch uneven_batch() {
  runtime::TokenBatch b = testing::random_batches(1, 4, 16, 17, 256)[0];
  for (int64_t i = 0; i < 16; ++i) b.targets[static_cast<size_t>(i)] = -1;
  for (int64_t i = 16; i < 32; ++i)
    if (i != 20) b.targets[static_cast<size_t>(i)] = -1;
  for (int64_t i = 32; i < 64; i += 7) b.targets[static_cast<size_t>(i)] = -1;
  return b;
}

struct StepOutcome {
  double loss = 0, norm = 0;
  std::vector<std::vector<float>> masters;
};

StepOutcome one_step(const ir::Module& m, const runtime::TokenBatch& b, int64_t M) {
  runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
  store.init_random(21);
  runtime::TrainConfig cfg;
  cfg.micro_batches = M;
  cfg.clip = 0;
  auto backend = runtime::make_unstreamed_step(m, store, cfg);
  const runtime::StepResult r = backend->step(b, 1e-3f);
  StepOutcome o{r.loss, r.grad_norm, {}};
  for (size_t t = 0; t < store.tensors().size(); ++t) {
    o.masters.emplace_back(static_cast<size_t>(store.tensors()[t].elements));
    store.get_master(static_cast<int>(t), o.masters.back().data());
  }
  return o;
}

TEST(StepLoss, MicroBatchesWithUnevenMasksAreOneBatch) {
  const ir::Module m = testing::lowered("tiny.json");
  const runtime::TokenBatch b = uneven_batch();
  const StepOutcome one = one_step(m, b, 1);
  ASSERT_TRUE(std::isfinite(one.loss));
  for (int64_t M : {2, 4}) {
    SCOPED_TRACE("M=" + std::to_string(M));
    const StepOutcome many = one_step(m, b, M);
    // Not bit for bit: the GEMMs of dw sum rows in a different grouping.
    EXPECT_NEAR(many.loss, one.loss, 1e-6 * one.loss);
    EXPECT_NEAR(many.norm, one.norm, 1e-5 * one.norm);
    // AdamW's first step moves each weight by about lr * g / |g|, so where
    // a gradient is near zero its rounding shows in full: 1e-4 of the weights.
    for (size_t t = 0; t < one.masters.size(); ++t)
      EXPECT_LT(rel_l2(widen(many.masters[t]), widen(one.masters[t])), 1e-4) << "tensor " << t;
  }
  // The mean of the micro-batches' means — the old normalization — differs:
  // the planted bug this test exists to catch.
  runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
  store.init_random(21);
  runtime::CpuModel cpu(m, store);
  double mean_of_means = 0;
  for (int64_t r = 0; r < 4; ++r)
    mean_of_means += cpu.loss(b.tokens.data() + r * 16, b.targets.data() + r * 16, 1, 16) / 4.0;
  EXPECT_GT(std::abs(mean_of_means - one.loss), 1e-3 * one.loss);
}

TEST(StepLoss, NoUnmaskedTokensGiveZeroNotNaN) {
  const ir::Module m = testing::lowered("tiny.json");
  runtime::TokenBatch b = uneven_batch();
  std::fill(b.targets.begin(), b.targets.end(), -1);
  const StepOutcome o = one_step(m, b, 2);
  EXPECT_EQ(o.loss, 0.0);
  EXPECT_EQ(o.norm, 0.0);
  for (const auto& w : o.masters)
    for (float x : w) ASSERT_TRUE(std::isfinite(x));
}

TEST(StepLoss, ValidationIsTheMeanOverAllUnmaskedTokens) {
  const ir::Module m = testing::lowered("tiny.json");
  runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
  store.init_random(21);
  runtime::TrainConfig cfg;
  runtime::Trainer trainer(m, store, cfg);
  const runtime::TokenBatch whole = uneven_batch();
  // The same rows as two batches of two: rows 0-1 (one target), rows 2-3.
  std::vector<runtime::TokenBatch> split(2);
  for (int i = 0; i < 2; ++i) {
    split[i].batch = 2;
    split[i].seq = 16;
    split[i].tokens = rows(whole.tokens, i * 32, 32, 1);
    split[i].targets = rows(whole.targets, i * 32, 32, 1);
  }
  const double one = trainer.evaluate({whole}), two = trainer.evaluate(split);
  EXPECT_NEAR(two, one, 1e-6 * one);
}

// The streamed schedule on the emulated device divides by the step's count
// too: bit for bit the unstreamed step with the same micro-batches.
TEST(StepLoss, StreamedScheduleWithUnevenMasksMatchesUnstreamed) {
  const ir::Module m = testing::lowered("tiny.json");
  const runtime::TokenBatch b = uneven_batch();
  const StepOutcome want = one_step(m, b, 2);
  passes::StreamingOptions o;
  o.batch = 4;
  o.seq = 16;
  o.micro_batches = 2;
  o.clip = false;
  const ir::Schedule s = passes::lower_to_schedule(m, o);
  runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
  store.init_random(21);
  runtime::ScheduleExecutor exec(s, m, store, runtime::AdamWConfig{}, 0.0f);
  exec.set_learning_rate(1e-3f);
  exec.step(b.tokens.data(), b.targets.data());
  exec.finish_updates();
  EXPECT_EQ(exec.last_step().loss, want.loss);
  EXPECT_EQ(exec.last_step().grad_norm, want.norm);
  for (size_t t = 0; t < want.masters.size(); ++t) {
    std::vector<float> w(want.masters[t].size());
    store.get_master(static_cast<int>(t), w.data());
    EXPECT_EQ(w, want.masters[t]) << "tensor " << t;
  }
}

}  // namespace
}  // namespace horizon

namespace horizon {
namespace {

/// A batch of 4 rows of 32 (tiny-qwen's vocabulary), each row packing
/// documents of its own lengths, with masked prompt tokens.
runtime::TokenBatch packed_batch() {
  runtime::TokenBatch b = testing::random_batches(1, 4, 32, 23, 256, 6, 0)[0];
  const std::vector<std::vector<int64_t>> rows = {{32}, {5, 20, 7}, {1, 1, 30}, {16, 16}};
  for (const std::vector<int64_t>& docs : rows) {
    const std::vector<int32_t> p = positions_of(docs), s = segments_of(docs);
    b.positions.insert(b.positions.end(), p.begin(), p.end());
    b.segments.insert(b.segments.end(), s.begin(), s.end());
  }
  return b;
}

// The streamed schedule on the emulated device carries each micro-batch's
// positions and segments to its block launches: bit for bit the unstreamed
// step of the packed model, for every checkpoint placement.
TEST(PackedDocuments, StreamedScheduleMatchesUnstreamed) {
  const ir::Module m = tiny_qwen(true, 0);
  const runtime::TokenBatch b = packed_batch();
  const StepOutcome want = one_step(m, b, 2);
  for (int64_t K : {1, 2})
    for (bool host : {false, true}) {
      SCOPED_TRACE("K=" + std::to_string(K) + " host_checkpoints=" + std::to_string(host));
      passes::StreamingOptions o;
      o.batch = 4;
      o.seq = 32;
      o.micro_batches = 2;
      o.checkpoint_every = K;
      o.host_checkpoints = host ? 1 : 0;
      o.clip = false;
      const ir::Schedule s = passes::lower_to_schedule(m, o);
      runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
      store.init_random(21);
      runtime::ScheduleExecutor exec(s, m, store, runtime::AdamWConfig{}, 0.0f);
      exec.set_learning_rate(1e-3f);
      exec.step(b.tokens.data(), b.targets.data(), b.positions.data(), b.segments.data());
      exec.finish_updates();
      EXPECT_EQ(exec.last_step().loss, want.loss);
      EXPECT_EQ(exec.last_step().grad_norm, want.norm);
      for (size_t t = 0; t < want.masters.size(); ++t) {
        std::vector<float> w(want.masters[t].size());
        store.get_master(static_cast<int>(t), w.data());
        EXPECT_EQ(w, want.masters[t]) << "tensor " << t;
      }
    }
  // The unstreamed packed step differs from the same tokens as whole rows.
  runtime::TokenBatch whole = b;
  whole.positions.clear();
  whole.segments.clear();
  EXPECT_NE(one_step(m, whole, 2).loss, want.loss);
}

TEST(PackedDocuments, WholeRowScheduleRefusesAPackedBatch) {
  const ir::Module m = tiny_qwen(false, 0);
  const runtime::TokenBatch b = packed_batch();
  passes::StreamingOptions o;
  o.batch = 4;
  o.seq = 32;
  const ir::Schedule s = passes::lower_to_schedule(m, o);
  runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
  store.init_random(21);
  runtime::ScheduleExecutor exec(s, m, store, runtime::AdamWConfig{}, 0.0f);
  EXPECT_THROW(exec.step(b.tokens.data(), b.targets.data(), b.positions.data(), b.segments.data()), UserError);
}

}  // namespace
}  // namespace horizon
