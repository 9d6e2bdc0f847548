// `horizon gradients` from the command line: `train --steps 0 --save` gives
// the initial weights, the default device is still the CPU reference, and
// `--device cuda` writes the same file from the GPU's streamed step (its
// gradients within 2e-2 relative L2 of the CPU's) or, with no GPU, fails
// with a message that says why and what to use instead.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include <nlohmann/json.hpp>
#include <sstream>

#include "frontend/safetensors.h"
#include "tests/test_support.h"
#ifdef HORIZON_HAVE_CUDA
#include "runtime/cuda/cuda_step.h"
#endif

namespace horizon {
namespace {

int cuda_devices() {
#ifdef HORIZON_HAVE_CUDA
  return runtime::cuda::cuda_device_count();
#else
  return 0;
#endif
}

const char* kText =
    "Host RAM is the home of the model; the GPU streams one layer at a time and sends its gradient back. "
    "The CPU optimizer updates each layer as soon as its gradient lands.";

/// Initial weights of `model` (models/NAME) in dir/init, written by `train --steps 0 --save`.
std::string initial_weights(const testing::TempDir& dir, const std::string& model) {
  std::string corpus;
  for (int i = 0; i < 10; ++i) corpus += kText;
  const std::string data = dir.write("corpus.txt", corpus);
  const std::string init = dir / ("init-" + model);
  const std::string args = " --data " + data + " --steps 0 --seq 32 --batch 2 --device cpu --seed 4 --save " + init;
  const testing::CommandResult r = testing::run_horizon("train " + testing::source_path("models/" + model) + args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(init + "/model.safetensors")) << r.out;
  return init;
}

testing::CommandResult gradients(const std::string& model, const std::string& weights, const std::string& out,
                                 const std::string& extra) {
  return testing::run_horizon("gradients " + testing::source_path("models/" + model) + " --weights " + weights +
                              " --text '" + kText + "' --batch 4 --seq 32 --out " + out + extra);
}

TEST(GradientsCommand, DefaultsToTheCpuReference) {
  testing::TempDir dir;
  const std::string init = initial_weights(dir, "tiny-qwen.json");
  const testing::CommandResult r = gradients("tiny-qwen.json", init, dir / "grads.safetensors", "");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const frontend::SafetensorsFile f = frontend::SafetensorsFile::open(dir / "grads.safetensors");
  EXPECT_EQ(f.metadata().at("device"), "cpu");
  for (const char* key : {"loss", "batch", "seq", "tokens", "targets"}) EXPECT_EQ(f.metadata().count(key), 1u) << key;
  EXPECT_NEAR(std::stod(f.metadata().at("loss")), std::log(256.0), 0.3);  // initial weights: near uniform
}

TEST(GradientsCommand, CudaWithoutAGpuSaysWhyAndWhatToUse) {
  if (cuda_devices() > 0) GTEST_SKIP() << "a CUDA device is present; GradientsCommand.CudaMatchesCpu runs instead";
  testing::TempDir dir;
  const std::string init = initial_weights(dir, "tiny.json");
  const testing::CommandResult r = gradients("tiny.json", init, dir / "grads.safetensors", " --device cuda");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.err.find("horizon gradients: --device cuda: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("use --device cpu"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "grads.safetensors"));
}

/// Per tensor of `want`: the relative L2 distance of `got`'s tensor of the same name.
void expect_gradients_close(const frontend::SafetensorsFile& got, const frontend::SafetensorsFile& want,
                            double tolerance) {
  ASSERT_EQ(got.tensors().size(), want.tensors().size());
  for (const frontend::SafetensorsEntry& e : want.tensors()) {
    const std::vector<float> w = want.read_f32(e.name), g = got.read_f32(e.name);
    ASSERT_EQ(g.size(), w.size()) << e.name;
    double diff = 0, norm = 0;
    for (size_t i = 0; i < w.size(); ++i) {
      diff += (static_cast<double>(g[i]) - w[i]) * (static_cast<double>(g[i]) - w[i]);
      norm += static_cast<double>(w[i]) * w[i];
    }
    const double rel = std::sqrt(diff / std::max(norm, 1e-30));
    EXPECT_LT(rel, tolerance) << e.name;  // NaN fails too
  }
}

TEST(GradientsCommand, CudaMatchesCpu) {
  if (cuda_devices() == 0) GTEST_SKIP() << "no CUDA device";
  for (const std::string model : {"tiny.json", "tiny-qwen.json"}) {
    SCOPED_TRACE(model);
    testing::TempDir dir;
    const std::string init = initial_weights(dir, model);
    const testing::CommandResult cpu = gradients(model, init, dir / "cpu.safetensors", " --device cpu");
    const testing::CommandResult gpu = gradients(model, init, dir / "gpu.safetensors", " --device cuda");
    ASSERT_EQ(cpu.exit_code, 0) << cpu.err;
    ASSERT_EQ(gpu.exit_code, 0) << gpu.err;
    const frontend::SafetensorsFile want = frontend::SafetensorsFile::open(dir / "cpu.safetensors");
    const frontend::SafetensorsFile got = frontend::SafetensorsFile::open(dir / "gpu.safetensors");
    EXPECT_EQ(got.metadata().at("device").rfind("cuda: ", 0), 0u) << got.metadata().at("device");
    for (const char* key : {"batch", "seq", "tokens", "targets"})
      EXPECT_EQ(got.metadata().at(key), want.metadata().at(key)) << key;
    const double want_loss = std::stod(want.metadata().at("loss")), got_loss = std::stod(got.metadata().at("loss"));
    EXPECT_LT(std::abs(got_loss - want_loss) / want_loss, 1e-2) << got_loss << " vs " << want_loss;
    expect_gradients_close(got, want, 2e-2);
  }
}

/// Prompt/completion rows short enough that several pack into one row of 32.
std::string prompt_completion_rows(const testing::TempDir& dir) {
  std::string rows;
  for (int i = 0; i < 40; ++i)
    rows += "{\"prompt\": \"q" + std::to_string(i) + "? \", \"completion\": \"a" + std::to_string(i * 7) + ".\"}\n";
  return dir.write("pairs.jsonl", rows);
}

std::vector<int> ints(const std::string& joined) {
  std::vector<int> out;
  std::stringstream in(joined);
  for (std::string v; std::getline(in, v, ',');) out.push_back(std::stoi(v));
  return out;
}

testing::CommandResult data_gradients(const std::string& weights, const std::string& data, const std::string& out,
                                      const std::string& extra) {
  return testing::run_horizon("gradients " + testing::source_path("models/tiny.json") + " --weights " + weights +
                              " --data " + data + " --cache-dir none --batch 2 --seq 32 --out " + out + extra);
}

// --data takes the batch train would: packed documents (positions restart,
// segments count up), prompts without loss; and it is train's first batch
// exactly (what --record-batches writes), so a reference replays the same data.
TEST(GradientsCommand, DataGivesTrainsFirstPackedMaskedBatch) {
  testing::TempDir dir;
  const std::string init = initial_weights(dir, "tiny.json"), data = prompt_completion_rows(dir);
  const testing::CommandResult r = data_gradients(init, data, dir / "g.safetensors", "");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const frontend::SafetensorsFile f = frontend::SafetensorsFile::open(dir / "g.safetensors");
  const std::vector<int> positions = ints(f.metadata().at("positions")), segments = ints(f.metadata().at("segments")),
                         targets = ints(f.metadata().at("targets"));
  ASSERT_EQ(positions.size(), 64u);
  ASSERT_EQ(segments.size(), 64u);
  int restarts = 0, masked = 0;
  for (size_t i = 1; i < 32; ++i)
    if (segments[i] != segments[i - 1]) {
      ++restarts;
      EXPECT_EQ(positions[i], 0) << "token " << i << " starts a document";
    }
  for (int t : targets) masked += t < 0;
  EXPECT_GE(restarts, 2) << "several short documents pack into one row";
  EXPECT_GT(masked, 16) << "prompts carry no loss";

  const testing::CommandResult t = testing::run_horizon(
      "train " + testing::source_path("models/tiny.json") + " --data " + data + " --cache-dir none --batch 2 " +
      "--seq 32 --steps 2 --device cpu --eval-batches 0 --record-batches " + (dir / "batches.jsonl"));
  ASSERT_EQ(t.exit_code, 0) << t.err;
  std::istringstream lines(testing::read_file(dir / "batches.jsonl"));
  std::string first, second, none;
  ASSERT_TRUE(std::getline(lines, first) && std::getline(lines, second));
  EXPECT_FALSE(std::getline(lines, none)) << "one line per step";
  const nlohmann::json b = nlohmann::json::parse(first);
  EXPECT_EQ(b["tokens"].get<std::vector<int>>(), ints(f.metadata().at("tokens")));
  EXPECT_EQ(b["targets"].get<std::vector<int>>(), targets);
  EXPECT_EQ(b["positions"].get<std::vector<int>>(), positions);
  EXPECT_EQ(b["segments"].get<std::vector<int>>(), segments);
  EXPECT_NE(nlohmann::json::parse(second)["tokens"], b["tokens"]) << "the second step takes the next rows";
}

TEST(GradientsCommand, TextAndDataAreExclusive) {
  testing::TempDir dir;
  const std::string init = initial_weights(dir, "tiny.json");
  const testing::CommandResult r =
      data_gradients(init, prompt_completion_rows(dir), dir / "g.safetensors", std::string(" --text '") + kText + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("exactly one of --text TEXT and --data PATH"), std::string::npos) << r.err;
}

TEST(GradientsCommand, CudaMatchesCpuOnPackedMaskedData) {
  if (cuda_devices() == 0) GTEST_SKIP() << "no CUDA device";
  testing::TempDir dir;
  const std::string init = initial_weights(dir, "tiny.json"), data = prompt_completion_rows(dir);
  const testing::CommandResult cpu = data_gradients(init, data, dir / "cpu.safetensors", " --device cpu");
  const testing::CommandResult gpu = data_gradients(init, data, dir / "gpu.safetensors", " --device cuda");
  ASSERT_EQ(cpu.exit_code, 0) << cpu.err;
  ASSERT_EQ(gpu.exit_code, 0) << gpu.err;
  const frontend::SafetensorsFile want = frontend::SafetensorsFile::open(dir / "cpu.safetensors");
  const frontend::SafetensorsFile got = frontend::SafetensorsFile::open(dir / "gpu.safetensors");
  for (const char* key : {"tokens", "targets", "positions", "segments"})
    EXPECT_EQ(got.metadata().at(key), want.metadata().at(key)) << key;
  const double want_loss = std::stod(want.metadata().at("loss")), got_loss = std::stod(got.metadata().at("loss"));
  EXPECT_LT(std::abs(got_loss - want_loss) / want_loss, 1e-2) << got_loss << " vs " << want_loss;
  expect_gradients_close(got, want, 2e-2);
}

}  // namespace
}  // namespace horizon
