// The CUDA code generators and their NVRTC compilation, which need no GPU:
// every kernel of the lowered tiny models (and head dims 128 and 256, Llama 3
// rope scaling, a sliding window) compiles for sm_90 and sm_80 to a
// non-empty cubin; the disk cache hands back the identical cubin without
// running NVRTC; a broken source fails with the kernel's name; generation is
// deterministic; launches are well formed. Skipped only where CMake found no
// CUDA toolkit.
#include <gtest/gtest.h>

#ifdef HORIZON_HAVE_CUDA

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <tuple>

#include "codegen/cuda/kernels.h"
#include "codegen/cuda/module_kernels.h"
#include "codegen/cuda/nvrtc_compiler.h"
#include "frontend/model_json.h"
#include "passes/lower.h"
#include "passes/schedule_pipeline.h"
#include "runtime/cpu/kernels.h"
#include "runtime/cuda/gemm.h"
#include "runtime/cuda/stage_scratch.h"
#include "runtime/thread_pool.h"
#include "support/moment_quantization.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

using codegen::cuda::KernelSource;
using codegen::cuda::StageKernel;

ir::Module lowered(const std::string& model) {
  ir::Module m = frontend::load_model(testing::source_path(model));
  passes::lower(m);
  return m;
}

/// The distinct sources among `kernels` (the same op in forward and backward
/// stages generates the same text), in first-seen order.
std::vector<KernelSource> distinct(const std::vector<StageKernel>& kernels) {
  std::vector<KernelSource> out;
  std::set<std::string> seen;
  for (const StageKernel& k : kernels)
    if (seen.insert(k.source.code).second) out.push_back(k.source);
  return out;
}

/// Compiles every source for `arch` (on the thread pool; NVRTC is
/// thread-safe) into a fresh cache; returns the total NVRTC milliseconds.
double compile_all(const std::vector<KernelSource>& sources, const std::string& arch) {
  testing::TempDir cache;
  codegen::cuda::NvrtcCompiler compiler({arch, cache.path(), true});
  std::mutex mu;
  std::vector<std::string> failures;
  double total_ms = 0;
  runtime::parallel_for(static_cast<int64_t>(sources.size()), 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      try {
        const codegen::cuda::Cubin c = compiler.compile(sources[i]);
        std::lock_guard<std::mutex> lock(mu);
        total_ms += c.compile_ms;
        if (c.image.empty()) failures.push_back(sources[i].describe() + ": empty cubin");
      } catch (const std::exception& ex) {
        std::lock_guard<std::mutex> lock(mu);
        failures.push_back(ex.what());
      }
    }
  });
  for (const std::string& f : failures) ADD_FAILURE() << f;
  EXPECT_EQ(compiler.compilations(), static_cast<int64_t>(sources.size()));
  return total_ms;
}

void compile_model(const std::string& model, int64_t B, int64_t S,
                   std::initializer_list<const char*> archs = {"sm_90", "sm_80"}) {
  const std::vector<KernelSource> sources = distinct(codegen::cuda::module_kernels(lowered(model), B, S));
  ASSERT_FALSE(sources.empty());
  for (const char* arch : archs) {
    const double ms = compile_all(sources, arch);
    std::printf("  %s B=%lld S=%lld: %zu kernels for %s in %.0f ms of NVRTC time (%.0f ms each)\n", model.c_str(),
                static_cast<long long>(B), static_cast<long long>(S), sources.size(), arch, ms,
                ms / static_cast<double>(sources.size()));
  }
}

TEST(CudaCodegen, CompilesEveryKernelOfTiny) { compile_model("models/tiny.json", 2, 64); }
TEST(CudaCodegen, CompilesEveryKernelOfTinyQwen) { compile_model("models/tiny-qwen.json", 2, 37); }
// One architecture: the sources differ from tiny-qwen's only in shapes.
TEST(CudaCodegen, CompilesEveryKernelOfTinyQwen3) { compile_model("models/tiny-qwen3.json", 2, 37, {"sm_90"}); }
TEST(CudaCodegen, CompilesEveryKernelOfTinyGpt2) { compile_model("models/tiny-gpt2.json", 3, 50); }
TEST(CudaCodegen, CompilesEveryKernelOfLlama1bHeadDim128) { compile_model("models/llama-1b.json", 1, 256); }

// A DPO head (passes/add_preference_loss): its kernels are generated for every
// instruction and compile; the blocks are the language model's.
TEST(CudaCodegen, CompilesTheDpoHead) {
  for (bool ipo : {false, true}) {
    ir::Module m = frontend::load_model(testing::source_path("models/tiny.json"));
    passes::LowerOptions o;
    o.preference = passes::PreferenceLoss{0.1, ipo ? 0.0 : 0.1, ipo};
    passes::lower(m, o);
    std::vector<StageKernel> head;
    std::set<std::string> names;
    for (const StageKernel& k : codegen::cuda::module_kernels(m, 4, 32))
      if (k.stage.rfind("head", 0) == 0) {
        head.push_back(k);
        names.insert(k.source.name);
      }
    for (const char* want :
         {"sequence_logprob_forward", "sequence_logprob_backward", "dpo_loss_forward", "dpo_loss_backward"})
      EXPECT_TRUE(names.count(want)) << want;
    compile_all(distinct(head), "sm_90");
  }
}

// A model lowered for packed documents: rope and attention (and their
// gradients) bind %positions / %segments as their last kernel input; head
// dims the tensor-core kernels do not serve are refused by name.
TEST(CudaCodegen, PackedDocumentsBindPositionsAndSegments) {
  ir::Module m = frontend::load_model(testing::source_path("models/llama-1b.json"));
  passes::LowerOptions o;
  o.packed_documents = true;
  passes::lower(m, o);
  int rope = 0, attention = 0;
  for (const StageKernel& k : codegen::cuda::module_kernels(m, 1, 256)) {
    const ir::Stage& s = *m.find_stage(k.stage);
    const bool is_rope = k.source.name.rfind("rope_", 0) == 0, is_attention = k.source.name.rfind("attention_", 0) == 0;
    if (!is_rope && !is_attention) continue;
    ASSERT_FALSE(k.inputs.empty());
    EXPECT_EQ(s.values[static_cast<size_t>(k.inputs.back())].name, is_rope ? "positions" : "segments")
        << k.instructions;
    EXPECT_EQ(k.source.inputs.back().name, is_rope ? "positions" : "segments") << k.instructions;
    rope += is_rope;
    attention += is_attention;
  }
  // block and block.keep: q, k; block.bwd and block.kept.bwd: q, k (from
  // the recomputed or the kept projections) and their gradients.
  EXPECT_EQ(rope, 2 * (2 + 2 + 2));
  // block, block.keep; block.bwd: recomputed forward, gradient; block.kept.bwd: gradient.
  EXPECT_EQ(attention, 2 + 2 + 1);
  // The fp32 kernels (other head dims, HORIZON_PRECISE_ATTENTION) take no segment ids.
  try {
    codegen::cuda::attention_backward({1, 16, 4, 4, 96, 0, true});
    FAIL() << "fp32 attention accepted segment ids";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("tensor-core"), std::string::npos) << e.what();
  }
}

// The loss kernel of the fused lm head loss at real vocabularies (Llama 2,
// Qwen2.5 with its chunk of 288 rows) and at an odd V (scalar loads).
// The plan counts the CUDA executor's stage scratch (host work: the stage
// programs, no GPU): one executor per stage and stream, each with a
// cuBLASLt workspace when the stage has GEMMs.
TEST(CudaCodegen, PlanCountsTheStageScratch) {
  ir::Module m = lowered("models/tiny.json");
  passes::StreamingOptions o;
  o.batch = 2;
  o.seq = 64;
  const ir::Schedule s = passes::lower_to_schedule(m, o);
  const int64_t scratch = runtime::cuda::planned_stage_scratch(s, m);
  // embed (no GEMM), block, head.bwd, block.bwd, embed.bwd on compute: 3 with GEMMs.
  EXPECT_GE(scratch, 3 * runtime::cuda::CublasLtGemm::kDefaultWorkspaceBytes);
  EXPECT_LT(scratch, 5 * runtime::cuda::CublasLtGemm::kDefaultWorkspaceBytes);
  auto plan = testing::run_horizon("plan " + testing::source_path("models/tiny.json") + " --batch 2 --seq 64");
  EXPECT_EQ(plan.exit_code, 0) << plan.err;
  EXPECT_NE(plan.out.find("CUDA stage scratch"), std::string::npos) << plan.out;
}

TEST(CudaCodegen, CompilesTheLossChunkKernels) {
  std::vector<KernelSource> sources;
  for (const auto& [N, V, rows] :
       {std::tuple<int64_t, int64_t, int64_t>{16384, 32000, 1392}, {8192, 152064, 288}, {45, 259, 16}}) {
    sources.push_back(codegen::cuda::linear_cross_entropy_forward(N, V, rows));
    sources.push_back(codegen::cuda::linear_cross_entropy_backward(N, V, rows));
  }
  compile_all(sources, "sm_90");
  const KernelSource& k = sources[1];
  EXPECT_EQ(k.launches.at(codegen::cuda::kLossChunkRows).entry, "loss_chunk_rows");
  EXPECT_EQ(k.launches.at(codegen::cuda::kLossChunkRows).grid.x, 1392u);
  EXPECT_EQ(k.outputs.at(1).dtype, ir::DType::bf16);
  EXPECT_EQ(k.workspaces.at(0).bytes, 16384 * 8);
  EXPECT_THROW(codegen::cuda::linear_cross_entropy_backward(16, 300, 17), std::invalid_argument);
}

// The cast of --grad-offload bf16 (runtime/cuda/gradient_cast.h).
TEST(CudaCodegen, CompilesTheGradientCast) {
  const std::vector<KernelSource> sources = {codegen::cuda::gradient_to_bf16_pairs()};
  compile_all(sources, "sm_90");
  compile_all(sources, "sm_80");
  EXPECT_NE(sources[0].code.find("extern \"C\" __global__ void __launch_bounds__(THREADS) gradient_to_bf16_pairs"),
            std::string::npos);
}

// The GPU optimizer's kernels (runtime/cuda/device_optimizer.h) for both
// moment types and the extremes of the span count.
TEST(CudaCodegen, CompilesTheOptimizerKernels) {
  std::vector<KernelSource> sources = {codegen::cuda::adamw_update(codegen::cpu::MomentType::bf16),
                                       codegen::cuda::adamw_update(codegen::cpu::MomentType::f32),
                                       codegen::cuda::sum_squares(1),
                                       codegen::cuda::sum_squares(codegen::cuda::kSumSquaresMaxSpans),
                                       codegen::cuda::adamw_update(codegen::cpu::MomentType::q8)};
  compile_all(sources, "sm_90");
  compile_all(sources, "sm_80");
  EXPECT_NE(sources[0].code.find("typedef unsigned short Moment"), std::string::npos);
  EXPECT_NE(sources[1].code.find("typedef float Moment"), std::string::npos);
  EXPECT_EQ(sources[3].workspaces.at(0).bytes,
            int64_t{8} * codegen::cuda::kSumSquaresMaxSpans * codegen::cuda::kSumSquaresBlocks);
  EXPECT_THROW(codegen::cuda::sum_squares(0), std::invalid_argument);
  EXPECT_THROW(codegen::cuda::sum_squares(codegen::cuda::kSumSquaresMaxSpans + 1), std::invalid_argument);
  // 8-bit moments: the maps baked in as hex floats that read back to the same bits.
  EXPECT_NE(sources[4].code.find("adamw_update_blockwise"), std::string::npos);
  EXPECT_NE(sources[4].code.find("__device__ const float V_THRESHOLDS[255]"), std::string::npos);
  char first[40];
  std::snprintf(first, sizeof first, "M_VALUES[256] = {%af", static_cast<double>(signed_dynamic_map().values[0]));
  EXPECT_NE(sources[4].code.find(first), std::string::npos) << first;
}

TEST(CudaCodegen, CompilesRopeScalingSlidingWindowAndWideHeads) {
  codegen::cuda::RopeParams llama3{500000.0, 8.0, 1.0, 4.0, 8192.0};
  std::vector<KernelSource> sources = {
      codegen::cuda::rope_forward(1, 300, 8, 128, llama3),
      codegen::cuda::rope_backward(1, 300, 8, 128, llama3),
      codegen::cuda::rope_forward(2, 33, 2, 64, {10000.0, 4.0}),
      codegen::cuda::rope_forward(2, 33, 2, 64, {10000.0}, true),  // packed documents' positions
      codegen::cuda::rope_backward(2, 33, 2, 64, {10000.0}, true),
      codegen::cuda::attention_forward({1, 100, 8, 2, 128, 16}),
      codegen::cuda::attention_backward({1, 100, 8, 2, 128, 16}),
      codegen::cuda::attention_forward({2, 33, 2, 1, 256, 0}),
      codegen::cuda::attention_backward({2, 33, 2, 1, 256, 0}),
      codegen::cuda::attention_forward({1, 20, 2, 2, 40, 0}),  // D % 16 != 0: scalar slices
      codegen::cuda::attention_backward({1, 20, 2, 2, 40, 0}),
      codegen::cuda::cross_entropy_forward(7, 50257),  // V % 4 != 0: scalar loads
      codegen::cuda::cross_entropy_backward(7, 50257),
      codegen::cuda::sequence_logprob_forward(4, 33, 50257, false),  // DPO
      codegen::cuda::sequence_logprob_backward(4, 33, 50257, true),
      codegen::cuda::dpo_loss_forward(4, {0.1, 0.2, false}),
      codegen::cuda::dpo_loss_backward(6, {0.5, 0.0, true}),
      codegen::cuda::rms_norm_backward(5, 8192, 1e-5f, ir::DType::f32),
      codegen::cuda::layer_norm_backward(5, 7, 1e-5f, ir::DType::bf16),
  };
  compile_all(sources, "sm_90");
}

TEST(CudaCodegen, LlamaAndMistralConfigsGenerate) {
  // Llama 3.1 carries rope scaling attributes, Mistral a sliding window.
  for (const char* model : {"models/hf/llama-3.1-8b/config.json", "models/hf/mistral-7b-v0.1/config.json"}) {
    const std::vector<StageKernel> kernels = codegen::cuda::module_kernels(lowered(model), 1, 64);
    bool rope = false, attention = false;
    for (const StageKernel& k : kernels) {
      rope |= k.source.name == "rope_forward";
      attention |= k.source.name == "attention_backward";
    }
    EXPECT_TRUE(rope && attention) << model;
  }
}

// Qwen3's per-head q/k norm runs the row kernels over rows of head_dim:
// B*S*heads rows for q, B*S*kv_heads for k (tiny-qwen3: 4 and 2 heads of 64).
TEST(CudaCodegen, PerHeadNormRunsOneRowPerHead) {
  std::set<std::string> norms;
  for (const StageKernel& k : codegen::cuda::module_kernels(lowered("models/tiny-qwen3.json"), 2, 37))
    if (k.stage.rfind("block", 0) == 0 && k.source.name.rfind("rms_norm", 0) == 0) norms.insert(k.source.describe());
  for (const char* want :
       {"rms_norm_forward (N=296 C=64", "rms_norm_forward (N=148 C=64", "rms_norm_forward (N=74 C=128",
        "rms_norm_backward (N=296 C=64", "rms_norm_backward (N=148 C=64"}) {
    bool found = false;
    for (const std::string& d : norms) found |= d.rfind(want, 0) == 0;
    EXPECT_TRUE(found) << want;
  }
}

TEST(CudaCodegen, SkipsGemmsAndCoversEveryOtherInstruction) {
  const ir::Module m = lowered("models/tiny-gpt2.json");
  const std::vector<StageKernel> kernels = codegen::cuda::module_kernels(m, 2, 16);
  std::map<std::string, std::set<int>> covered;
  for (const StageKernel& k : kernels)
    for (int i = k.first; i <= k.last; ++i) covered[k.stage].insert(i);
  for (const ir::Stage& s : m.stages)
    for (size_t i = 0; i < s.instrs.size(); ++i) {
      const bool gemm = ir::op_kind(s.instrs[i].op) == ir::OpKind::matmul;
      EXPECT_EQ(covered[s.name].count(static_cast<int>(i)), gemm ? 0u : 1u)
          << s.name << " instruction " << i << " " << ir::op_name(s.instrs[i].op);
    }
}

TEST(CudaCodegen, LaunchesAreWellFormed) {
  for (const char* model :
       {"models/tiny.json", "models/tiny-qwen.json", "models/tiny-qwen3.json", "models/tiny-gpt2.json"})
    for (const StageKernel& k : codegen::cuda::module_kernels(lowered(model), 2, 37)) {
      const KernelSource& src = k.source;
      SCOPED_TRACE(std::string(model) + " " + k.stage + " " + src.describe());
      EXPECT_EQ(k.inputs.size(), src.inputs.size());
      EXPECT_EQ(k.outputs.size(), src.outputs.size());
      std::set<std::pair<int, int>> used;
      ASSERT_FALSE(src.launches.empty());
      for (const codegen::cuda::Launch& l : src.launches) {
        EXPECT_NE(src.code.find(l.entry + "("), std::string::npos) << l.entry;
        EXPECT_GE(l.grid.x, 1u);
        EXPECT_LE(l.block.x * l.block.y * l.block.z, 1024u);
        EXPECT_EQ(l.block.x % 32, 0u) << "block of whole warps";
        for (const codegen::cuda::Arg& a : l.args) {
          const size_t n = a.kind == codegen::cuda::Arg::Kind::input    ? src.inputs.size()
                           : a.kind == codegen::cuda::Arg::Kind::output ? src.outputs.size()
                                                                        : src.workspaces.size();
          EXPECT_LT(static_cast<size_t>(a.index), n);
          used.insert({static_cast<int>(a.kind), a.index});
        }
      }
      for (size_t o = 0; o < src.outputs.size(); ++o)
        EXPECT_TRUE(used.count({static_cast<int>(codegen::cuda::Arg::Kind::output), static_cast<int>(o)}))
            << "output " << src.outputs[o].name << " is never written";
    }
}

TEST(CudaCodegen, SourceIsDeterministic) {
  const ir::Module m = lowered("models/tiny-qwen.json");
  const std::vector<StageKernel> a = codegen::cuda::module_kernels(m, 2, 64);
  const std::vector<StageKernel> b = codegen::cuda::module_kernels(lowered("models/tiny-qwen.json"), 2, 64);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(codegen::cuda::print_kernel(a[i]), codegen::cuda::print_kernel(b[i]));
}

TEST(CudaCodegen, CacheReturnsTheSameCubinWithoutRecompiling) {
  testing::TempDir cache;
  const KernelSource src = codegen::cuda::rms_norm_forward(64, 256, 1e-5f, ir::DType::bf16);
  codegen::cuda::NvrtcCompiler first({"sm_90", cache.path(), true});
  const codegen::cuda::Cubin a = first.compile(src);
  EXPECT_FALSE(a.from_cache);
  EXPECT_EQ(first.compilations(), 1);

  codegen::cuda::NvrtcCompiler second({"sm_90", cache.path(), true});
  const codegen::cuda::Cubin b = second.compile(src);
  EXPECT_TRUE(b.from_cache);
  EXPECT_EQ(second.compilations(), 0);
  EXPECT_EQ(second.cache_hits(), 1);
  EXPECT_EQ(a.image, b.image);

  // Another architecture is another entry; a damaged entry is a miss, then repaired.
  codegen::cuda::NvrtcCompiler sm80({"sm_80", cache.path(), true});
  EXPECT_FALSE(sm80.compile(src).from_cache);
  const std::string path = codegen::cuda::CubinCache(cache.path()).path_for(first.cache_key(src));
  ASSERT_TRUE(std::filesystem::exists(path));
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 7);
  codegen::cuda::NvrtcCompiler third({"sm_90", cache.path(), true});
  const codegen::cuda::Cubin c = third.compile(src);
  EXPECT_FALSE(c.from_cache);
  EXPECT_EQ(c.image, a.image);
  EXPECT_TRUE(codegen::cuda::NvrtcCompiler({"sm_90", cache.path(), true}).compile(src).from_cache);
}

TEST(CudaCodegen, BrokenSourceNamesTheKernel) {
  KernelSource src = codegen::cuda::bias_add_grad(16, 8);
  src.name = "deliberately_broken";
  src.code += "\nextern \"C\" __global__ void oops(float* y) { y[0] = undefined_symbol; }\n";
  codegen::cuda::NvrtcCompiler compiler({"sm_90", "", false});
  try {
    compiler.compile(src);
    FAIL() << "expected a CompileError";
  } catch (const codegen::cuda::CompileError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("deliberately_broken"), std::string::npos) << what;
    EXPECT_NE(what.find("N=16 O=8"), std::string::npos) << what;
    EXPECT_NE(what.find("nvrtcCompileProgram"), std::string::npos) << what;
    EXPECT_NE(what.find("undefined_symbol"), std::string::npos) << what;
  }
  EXPECT_THROW(codegen::cuda::NvrtcCompiler({"compute_90", "", false}), std::invalid_argument);
}

TEST(CudaCodegen, RejectsShapesItCannotServe) {
  auto message = [](auto generate) -> std::string {
    try {
      generate();
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_NE(message([] {
              codegen::cuda::attention_forward({1, 16, 4, 4, 30, 0});
            }).find("attention_forward"),
            std::string::npos);
  EXPECT_NE(message([] { codegen::cuda::attention_backward({1, 16, 6, 4, 64, 0}); }).find("KVH=4"), std::string::npos);
  EXPECT_NE(message([] { codegen::cuda::rms_norm_forward(4, 1 << 20, 1e-5f, ir::DType::f32); }).find("C=1048576"),
            std::string::npos);
  codegen::cpu::ElementwiseProgram p;
  p.inputs = {{false}};
  p.nodes = {{ir::Op::rms_norm, {0, 0}}};
  p.outputs = {0};
  EXPECT_NE(message([&] { codegen::cuda::elementwise(p, 4, 4); }).find("rms_norm"), std::string::npos);
}

TEST(CudaCodegen, RopeFrequenciesMatchTheCpuBitForBit) {
  const std::vector<cpu::RopeParams> params = {
      {10000.0, 0, 0, 0, 0}, {1e6, 0, 0, 0, 0}, {10000.0, 4.0, 0, 0, 0}, {500000.0, 8.0, 1.0, 4.0, 8192.0}};
  for (const cpu::RopeParams& p : params)
    for (int64_t D : {8, 64, 128}) {
      std::vector<double> want(D / 2);
      cpu::rope_inv_freq(want.data(), D, p);
      const std::vector<double> got = codegen::cuda::rope_inv_freq(
          D, {p.theta, p.scaling_factor, p.low_freq_factor, p.high_freq_factor, p.original_max_positions});
      EXPECT_EQ(got, want) << "theta " << p.theta << " D " << D;
    }
}

TEST(CudaCodegen, EmitCudaPrintsEveryStage) {
  const testing::CommandResult r =
      testing::run_horizon("compile " + testing::source_path("models/tiny.json") + " --emit=cuda --batch 2 --seq 64");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* want : {"// ==== stage embed, instruction 0", "stage block.bwd", "attention_backward (B=2 S=64",
                           "launch rms_norm_backward<<<", "embedding_backward", "linear_cross_entropy_backward",
                           "launch loss_chunk_rows<<<(128,1,1)", "loss_chunk_rows runs once per chunk"})
    EXPECT_NE(r.out.find(want), std::string::npos) << want;
}

}  // namespace
}  // namespace horizon

#else

TEST(CudaCodegen, NeedsTheCudaToolkit) { GTEST_SKIP() << "built without the CUDA toolkit (CMake found none)"; }

#endif
