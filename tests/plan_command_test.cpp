// `horizon plan` and the schedule emits of `horizon compile`: sane numbers for
// shipped models on the default machine, refusals that name what does not fit
// and how to fix it, the micro-batch search, and the memory tables adding up.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "frontend/model_json.h"
#include "ir/param_count.h"
#include "ir/schedule.h"
#include "passes/lower.h"
#include "passes/schedule_pipeline.h"
#include "plan/memory_table.h"
#include "plan/micro_batch_search.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

using testing::run_horizon;
using testing::source_path;

ir::Module lowered_model(const std::string& path) {
  ir::Module m = frontend::load_model(source_path(path));
  passes::lower(m);
  return m;
}

// The number after `label` on its line of `text` ("12.51 GiB" -> bytes).
double number_after(const std::string& text, const std::string& label) {
  size_t at = text.find(label);
  if (at == std::string::npos) return -1;
  std::string rest = text.substr(at + label.size(), text.find('\n', at) - at - label.size());
  std::string digits;
  size_t i = rest.find_first_of("0123456789");
  if (i == std::string::npos) return -1;
  for (; i < rest.size() && (std::isdigit(static_cast<unsigned char>(rest[i])) || rest[i] == '.' || rest[i] == ',');
       ++i)
    if (rest[i] != ',') digits += rest[i];
  double v = std::strtod(digits.c_str(), nullptr);
  std::string unit = rest.substr(i, 4);
  if (unit.find("KiB") != std::string::npos) v *= 1024.0;
  if (unit.find("MiB") != std::string::npos) v *= 1024.0 * 1024;
  if (unit.find("GiB") != std::string::npos) v *= 1024.0 * 1024 * 1024;
  if (unit.find("TiB") != std::string::npos) v *= 1024.0 * 1024 * 1024 * 1024;
  return v;
}

// Checks the sanity of a plan's printed numbers for a model that fits.
void expect_sane_plan(const std::string& model, const std::string& flags) {
  testing::CommandResult r = run_horizon("plan " + source_path(model) + " " + flags);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string& out = r.out;
  const double params = static_cast<double>(plan::stored_params(lowered_model(model)));
  const double store = number_after(out, "bf16 weights (w_hi)") + number_after(out, "fp32 master low halves (w_lo)") +
                       number_after(out, "Adam moments (m, v)");
  EXPECT_NEAR(store / (params * 8), 1.0, 0.02) << out;  // 8 bytes per parameter
  const double tokens_per_s = number_after(out, "tokens/s"), step = number_after(out, "step time");
  EXPECT_GT(tokens_per_s, 0) << out;
  EXPECT_GT(step, 0) << out;
  const double tflops = number_after(out, "model TFLOPS");
  EXPECT_GT(tflops, 1) << out;
  EXPECT_LT(tflops, 780) << out;  // never above the GEMM peak
  const double busy = number_after(out, "GPU busy");
  EXPECT_GT(busy, 0) << out;
  EXPECT_LE(busy, 100) << out;
  EXPECT_GT(number_after(out, "PCIe "), 0) << out;
  EXPECT_GT(number_after(out, "largest micro-batch that fits:"), 0) << out;
  bool named = false;
  for (const char* b : {"PCIe H2D", "PCIe D2H", "GPU compute", "CPU optimizer"})
    named |= out.find(std::string("bottleneck               ") + b) != std::string::npos;
  EXPECT_TRUE(named) << out;
  EXPECT_NE(out.find("fits"), std::string::npos);
}

TEST(Plan, Llama1bOnTheDefaultMachine) { expect_sane_plan("models/llama-1b.json", "--batch 8 --seq 2048"); }

TEST(Plan, Llama2_7bOnTheDefaultMachine) { expect_sane_plan("models/llama2-7b.json", "--batch 4 --seq 2048"); }

TEST(Plan, ShippedMachineFileGivesTheDefaultPrediction) {
  std::string flags = " --batch 8 --seq 2048 --micro-batches 2";
  testing::CommandResult a = run_horizon("plan " + source_path("models/llama-1b.json") + flags);
  testing::CommandResult b = run_horizon("plan " + source_path("models/llama-1b.json") + flags + " --machine " +
                                         source_path("machines/h100-pcie5.json"));
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(a.out.substr(a.out.find('\n')), b.out.substr(b.out.find('\n')));  // all but the machine's name
}

TEST(Plan, Llama70bIsRefusedOnHostMemory) {
  testing::CommandResult r =
      run_horizon("plan " + source_path("models/llama-70b.json") + " --batch 4 --seq 2048 --host-mem 100G");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.err.find("llama-70b does not fit: host memory"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--host-mem"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("DOES NOT FIT"), std::string::npos) << r.out;
}

TEST(Plan, GpuOverBudgetNamesTheMicroBatchThatFits) {
  testing::CommandResult r =
      run_horizon("plan " + source_path("models/llama2-7b.json") + " --batch 64 --seq 2048 --gpu-mem 24G");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.err.find("GPU memory: the step needs"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--micro-batches"), std::string::npos) << r.err;
}

TEST(Plan, BadOptionsAreUserErrors) {
  testing::CommandResult r = run_horizon("plan " + source_path("models/tiny.json") + " --seq 128");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("missing --batch"), std::string::npos) << r.err;
  r = run_horizon("plan " + source_path("models/tiny.json") + " --batch 8 --seq 128 --host-checkpoints maybe");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--host-checkpoints must be auto, on or off"), std::string::npos) << r.err;
  r = run_horizon("plan " + source_path("models/tiny.json") + " --batch 8 --seq 128 --machine /nonexistent.json");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("/nonexistent.json"), std::string::npos) << r.err;
}

// Resident layers take the GPU memory the streaming buffers leave: all of
// it by default, less under a smaller budget, none with --resident 0.
TEST(Plan, ResidentLayersFillWhatTheGpuBudgetLeaves) {
  const std::string model = source_path("models/llama2-7b.json") + " --batch 4 --seq 2048";
  // "  N of 34 layers resident on the GPU ...": N.
  auto resident = [](const std::string& out) {
    const size_t at = out.find(" of 34 layers resident");
    return at == std::string::npos ? -1 : std::stoi(out.substr(out.rfind('\n', at) + 1));
  };
  testing::CommandResult full = run_horizon("plan " + model);
  testing::CommandResult half = run_horizon("plan " + model + " --gpu-mem 40G");
  testing::CommandResult none = run_horizon("plan " + model + " --resident 0");
  for (const auto* r : {&full, &half, &none}) ASSERT_EQ(r->exit_code, 0) << r->out << r->err;
  EXPECT_GT(resident(full.out), resident(half.out)) << full.out << half.out;
  EXPECT_GT(resident(half.out), 0) << half.out;
  EXPECT_EQ(resident(none.out), 0) << none.out;
  EXPECT_EQ(none.out.find("resident layers (planes)"), std::string::npos) << none.out;
  EXPECT_GT(number_after(full.out, "resident layers (planes)"), 30.0 * (1ull << 30)) << full.out;
  EXPECT_LT(number_after(none.out, "CPU optimizer busy"), 100) << none.out;

  testing::CommandResult bad = run_horizon("plan " + model + " --resident lots");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("--resident must be auto, 0 or a number of layers"), std::string::npos) << bad.err;
  bad = run_horizon("plan " + source_path("models/tiny.json") + " --batch 4 --seq 64 --resident 100");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("use --resident auto"), std::string::npos) << bad.err;
}

TEST(Plan, TraceIsChromeJson) {
  testing::TempDir tmp;
  std::string path = tmp.path() + "/step.json";
  testing::CommandResult r =
      run_horizon("plan " + source_path("models/tiny.json") + " --batch 8 --seq 128 --micro-batches 2 --trace " + path);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json trace = nlohmann::json::parse(testing::read_file(path));
  int slices = 0;
  for (const auto& e : trace["traceEvents"]) slices += e["ph"] == "X";
  EXPECT_GT(slices, 20);
}

TEST(Plan, LargestMicroBatchIsTheEdgeOfTheBudget) {
  ir::Module m = lowered_model("models/llama-1b.json");
  passes::StreamingOptions o;
  o.seq = 2048;
  o.gpu_bytes = 24e9;
  int64_t n = plan::largest_micro_batch(m, o);
  ASSERT_GT(n, 1);
  auto gpu = [&](int64_t sequences) {
    passes::StreamingOptions t = o;
    t.batch = sequences;
    return static_cast<double>(passes::lower_to_schedule(m, t).bytes(ir::Place::gpu));
  };
  EXPECT_LE(gpu(n), o.gpu_bytes);
  EXPECT_GT(gpu(n + 1), o.gpu_bytes);
  // What the executor needs beyond the buffers (its scratch) counts too.
  const auto scratch = [](const ir::Schedule& s) { return 0.25 * static_cast<double>(s.bytes(ir::Place::gpu)); };
  const int64_t with_scratch = plan::largest_micro_batch(m, o, 1 << 16, scratch);
  EXPECT_LT(with_scratch, n);
  EXPECT_LE(1.25 * gpu(with_scratch), o.gpu_bytes);
  EXPECT_GT(1.25 * gpu(with_scratch + 1), o.gpu_bytes);
  o.gpu_bytes = 1e6;
  EXPECT_EQ(plan::largest_micro_batch(m, o), 0);
}

TEST(Plan, MemoryTablesAddUpToTheSchedule) {
  ir::Module m = lowered_model("models/llama-1b.json");
  passes::StreamingOptions o;
  o.batch = 8;
  o.seq = 2048;
  ir::Schedule s = passes::lower_to_schedule(m, o);
  plan::MemoryTable host = plan::host_memory(s, m, 125e9), gpu = plan::gpu_memory(s, 80e9);
  EXPECT_DOUBLE_EQ(host.total, static_cast<double>(s.bytes(ir::Place::host)));
  EXPECT_DOUBLE_EQ(gpu.total, static_cast<double>(s.bytes(ir::Place::gpu)));
  EXPECT_DOUBLE_EQ(host.lines[0].bytes, 2.0 * static_cast<double>(plan::stored_params(m)));
  EXPECT_TRUE(host.fits());
  EXPECT_NE(plan::format_memory_table(gpu).find("workspace arena"), std::string::npos);
}

TEST(Plan, CompileEmitsAParsableSchedule) {
  testing::CommandResult r = run_horizon("compile " + source_path("models/tiny.json") +
                                         " --emit=schedule --batch 8 --seq 128 --micro-batches 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ir::Schedule s = ir::parse_schedule(r.out, "stdout");
  EXPECT_EQ(ir::print_schedule(s), r.out);
  EXPECT_EQ(s.config.micro_batches, 2);
  r = run_horizon("compile " + source_path("models/tiny.json") + " --emit=schedule");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("missing --batch"), std::string::npos) << r.err;
}

TEST(Plan, CompileEmitsTheMemoryPlanWithValueNames) {
  testing::CommandResult r =
      run_horizon("compile " + source_path("models/tiny.json") + " --emit=plan --batch 8 --seq 128");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("%store"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("arena block.bwd:"), std::string::npos) << r.out;
  // The fused lm head loss keeps one chunk of logits in its own scratch; no [N, V] tensor is planned.
  EXPECT_NE(r.out.find("scratch of instruction 1 (linear_cross_entropy_grad)"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("%d_logits"), std::string::npos) << r.out;
  r = run_horizon("compile " + source_path("models/tiny.json") + " --emit=insert_recompute --batch 8 --seq 128");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("// after insert_recompute"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace horizon
