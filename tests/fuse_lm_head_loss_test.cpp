// passes/fuse_lm_head_loss: IR text in, IR text out. The lm head and its loss
// fuse in the forward and backward head of the Llama, tied-embedding Qwen
// and GPT-2 models; the result prints and parses back; the pass does not
// fire when the logits (or their gradient) have another reader or leave the
// stage; the chunk rule bounds the scratch.
#include "passes/fuse_lm_head_loss.h"

#include <gtest/gtest.h>

#include "frontend/model_json.h"
#include "ir/lm_head_loss.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "passes/lower.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

using testing::source_path;

int count_op(const ir::Stage& s, ir::Op op) {
  int n = 0;
  for (const ir::Instr& in : s.instrs) n += in.op == op;
  return n;
}

const ir::Instr& only(const ir::Stage& s, ir::Op op) {
  for (const ir::Instr& in : s.instrs)
    if (in.op == op) return in;
  throw std::logic_error(std::string("no ") + ir::op_name(op) + " in stage " + s.name);
}

// The stages of a head, before fusion, in the text form autodiff leaves.
constexpr const char* kHead = R"(module "m" {
  config {vocab = 40}

  stage head {
    in %x : f32[B, S, 8]
    in %targets : i32[B, S]
    param %lm_head : bf16[40, 8] "lm_head.weight" init=normal(0.02)
    %logits : f32[B, S, 40] = linear(%x, %lm_head)
    %loss : f32[] = cross_entropy(%logits, %targets)
    out %loss
  }

  stage head.bwd {
    in %x : f32[B, S, 8]
    in %targets : i32[B, S]
    param %lm_head : bf16[40, 8] "lm_head.weight" init=normal(0.02)
    %logits : f32[B, S, 40] = linear(%x, %lm_head)
    %loss : f32[] = cross_entropy(%logits, %targets)
    %d_logits : f32[B, S, 40] = cross_entropy_grad(%logits, %targets)
    %d_x : f32[B, S, 8] = linear_grad_x(%d_logits, %lm_head)
    %d_lm_head : f32[40, 8] = linear_grad_w(%d_logits, %x)
    out %loss
    out %d_x
    grad %lm_head = %d_lm_head
  }
}
)";

TEST(FuseLmHeadLoss, RewritesTheHeadTextInTextOut) {
  ir::Module m = ir::parse_module(kHead);
  EXPECT_TRUE(passes::fuse_lm_head_loss(m));
  ir::verify_module(m);
  const std::string chunk = std::to_string(passes::lm_head_chunk_rows(40));
  const std::string want = R"(module "m" {
  config {vocab = 40}

  stage head {
    in %x : f32[B, S, 8]
    in %targets : i32[B, S]
    param %lm_head : bf16[40, 8] "lm_head.weight" init=normal(0.02)
    %loss : f32[] = linear_cross_entropy(%x, %lm_head, %targets) {chunk = )" +
                           chunk + R"(}
    out %loss
  }

  stage head.bwd {
    in %x : f32[B, S, 8]
    in %targets : i32[B, S]
    param %lm_head : bf16[40, 8] "lm_head.weight" init=normal(0.02)
    %loss : f32[], %d_x : f32[B, S, 8], %d_lm_head : f32[40, 8] = linear_cross_entropy_grad(%x, %lm_head, %targets) {chunk = )" +
                           chunk + R"(}
    out %loss
    out %d_x
    grad %lm_head = %d_lm_head
  }
}
)";
  EXPECT_EQ(ir::print_module(m), want);
  EXPECT_FALSE(passes::fuse_lm_head_loss(m)) << "a second run finds nothing left to fuse";
}

TEST(FuseLmHeadLoss, FusesTheHeadOfEveryTinyModel) {
  struct Case {
    const char* model;
    const char* lm_head_checkpoint;
  } cases[] = {{"models/tiny.json", "lm_head.weight"},
               {"models/tiny-qwen.json", "model.embed_tokens.weight"},  // tied to the embedding
               {"models/tiny-gpt2.json", "transformer.wte.weight"}};    // tied, GPT-2 layout
  for (const Case& c : cases) {
    SCOPED_TRACE(c.model);
    ir::Module m = frontend::load_model(source_path(c.model));
    passes::LowerOptions stop;
    stop.stop_after = "fuse_elementwise";
    passes::lower(m, stop);
    EXPECT_TRUE(passes::fuse_lm_head_loss(m));
    ir::verify_module(m);
    const ir::Stage& head = *m.find_stage("head");
    const ir::Stage& bwd = *m.find_stage("head.bwd");
    for (const ir::Stage* s : {&head, &bwd})
      for (ir::Op op : {ir::Op::linear, ir::Op::cross_entropy, ir::Op::cross_entropy_grad, ir::Op::linear_grad_x,
                        ir::Op::linear_grad_w})
        EXPECT_EQ(count_op(*s, op), 0) << s->name << " still has " << ir::op_name(op);
    EXPECT_EQ(count_op(head, ir::Op::linear_cross_entropy), 1);
    const ir::Instr& fused = only(bwd, ir::Op::linear_cross_entropy_grad);
    // Its operand is the lm head parameter, whatever region stores it; its
    // results are the stage's loss, the gradient the norm's backward reads,
    // and the lm head's gradient.
    const ir::Param* w = nullptr;
    for (const ir::Param& p : bwd.params)
      if (p.value == fused.operands[1]) w = &p;
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(w->checkpoint_name, c.lm_head_checkpoint);
    EXPECT_EQ(fused.results[0], bwd.outputs[0]);
    bool dw_is_grad = false;
    for (const ir::ParamGrad& g : bwd.grads) dw_is_grad |= g.value == fused.results[2];
    EXPECT_TRUE(dw_is_grad);
    EXPECT_EQ(bwd.find_value("logits"), -1);
    EXPECT_EQ(bwd.find_value("d_logits"), -1);
    // Round trip through the text form.
    const std::string once = ir::print_module(m);
    EXPECT_EQ(ir::print_module(ir::parse_module(once, c.model)), once);
    // The forward splits back into what the model file wrote.
    ir::Stage split = head;
    EXPECT_TRUE(ir::split_lm_head_loss(split));
    ir::Module unfused = frontend::load_model(source_path(c.model));
    EXPECT_EQ(ir::print_module(ir::Module{"", {}, {split}}),
              ir::print_module(ir::Module{"", {}, {*unfused.find_stage("head")}}));
  }
}

TEST(FuseLmHeadLoss, LowerRunsItAndEmitStopsAfterIt) {
  ir::Module m = frontend::load_model(source_path("models/tiny.json"));
  passes::lower(m);
  EXPECT_EQ(count_op(*m.find_stage("head.bwd"), ir::Op::linear_cross_entropy_grad), 1);
  const testing::CommandResult r =
      testing::run_horizon("compile " + source_path("models/tiny-gpt2.json") + " --emit=fuse_lm_head_loss");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("linear_cross_entropy_grad(%h, %wte, %targets)"), std::string::npos) << r.out;
}

/// kHead with `extra` inserted before the first `out %loss` of stage `stage`.
std::string head_with(const std::string& stage, const std::string& extra) {
  std::string t = kHead;
  const size_t at = t.find("    out %loss", t.find("stage " + stage + " {"));
  return t.insert(at, extra);
}

TEST(FuseLmHeadLoss, LeavesLogitsWithAnotherReaderAlone) {
  struct Case {
    const char* what;
    std::string text;
    bool head_fuses, bwd_fuses;
  } cases[] = {
      {"logits read by another op",
       head_with("head", "    %scaled : f32[B, S, 40] = add(%logits, %logits)\n    out %scaled\n"), false, true},
      {"logits are a stage output", head_with("head", "    out %logits\n"), false, true},
      {"d_logits read by another op",
       head_with("head.bwd", "    %d2 : f32[B, S, 40] = mul(%d_logits, %d_logits)\n    out %d2\n"), true, false},
      {"d_logits are a stage output", head_with("head.bwd", "    out %d_logits\n"), true, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    ir::Module m = ir::parse_module(c.text);
    ir::verify_module(m);
    EXPECT_EQ(passes::fuse_lm_head_loss(m), c.head_fuses || c.bwd_fuses);
    ir::verify_module(m);
    EXPECT_EQ(count_op(*m.find_stage("head"), ir::Op::linear_cross_entropy), c.head_fuses ? 1 : 0);
    EXPECT_EQ(count_op(*m.find_stage("head"), ir::Op::cross_entropy), c.head_fuses ? 0 : 1);
    EXPECT_EQ(count_op(*m.find_stage("head.bwd"), ir::Op::linear_cross_entropy_grad), c.bwd_fuses ? 1 : 0);
    EXPECT_EQ(count_op(*m.find_stage("head.bwd"), ir::Op::cross_entropy_grad), c.bwd_fuses ? 0 : 1);
  }
}

TEST(FuseLmHeadLoss, ChunksBoundTheScratch) {
  EXPECT_EQ(passes::lm_head_chunk_rows(32000), 1392);  // Llama 2
  EXPECT_EQ(passes::lm_head_chunk_rows(152064), 288);  // Qwen2.5
  EXPECT_EQ(passes::lm_head_chunk_rows(int64_t{1} << 30), 16);
  for (int64_t v : {256, 32000, 128256, 152064, 1 << 20}) {
    const int64_t rows = passes::lm_head_chunk_rows(v);
    EXPECT_EQ(rows % 16, 0) << v;
    EXPECT_LE(rows * v * 6, passes::kLossChunkBytes) << v;
    EXPECT_GT((rows + 16) * v * 6, passes::kLossChunkBytes) << v;
  }
}

TEST(FuseLmHeadLoss, ShapeRulesNameTheBadOperand) {
  ir::Module m = ir::parse_module(kHead);
  passes::fuse_lm_head_loss(m);
  ir::Instr& fused = m.find_stage("head")->instrs[0];
  fused.attrs.erase("chunk");
  try {
    ir::verify_module(m);
    FAIL() << "a fused loss without a chunk verified";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("linear_cross_entropy: needs an integer attribute 'chunk'"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace horizon
