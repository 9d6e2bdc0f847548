// Hugging Face model directories as input: what a directory holds, the
// sharded-weights index and its errors, and loading into the host store
// (mixed dtypes, f16 rounding, thread-count independence).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "cli/initial_weights.h"
#include "cli/model_tokenizer.h"
#include "cli/weight_loader.h"
#include "frontend/hf_export.h"
#include "frontend/model_dir.h"
#include "frontend/model_json.h"
#include "frontend/safetensors_index.h"
#include "passes/lower.h"
#include "support/bf16.h"
#include "test_support.h"

namespace horizon {
namespace {

using testing::expect_user_error;
using testing::TempDir;

// A tiny Qwen2-style model directory: config.json exported from models/tiny-qwen.json.
std::string write_config(const TempDir& dir) {
  return dir.write("config.json", frontend::hf_config_from_module(testing::lowered("tiny-qwen.json")).dump(2));
}

ir::Module dir_model(const std::string& dir) {
  ir::Module m = frontend::load_model(dir);
  passes::lower(m);
  return m;
}

// Distinct values per tensor and element, so a tensor loaded into the wrong place is seen.
float value_of(size_t tensor, int64_t i) { return 0.001f * static_cast<float>(i % 97) - 0.03f + 0.0007f * tensor; }

struct Planned {
  ir::DType dtype;
  std::vector<uint8_t> bytes;
};

// Writes the store's tensors into `shards` files (tensor t to shard t % shards)
// with the dtype cycling BF16, F16, F32, plus an index when shards > 1.
std::vector<Planned> write_weights(const std::string& dir, const runtime::HostStore& store, int shards) {
  const ir::DType dtypes[] = {ir::DType::bf16, ir::DType::f16, ir::DType::f32};
  std::vector<Planned> planned;
  std::vector<std::vector<frontend::SafetensorsTensorRef>> refs(static_cast<size_t>(shards));
  nlohmann::json map = nlohmann::json::object();
  for (size_t t = 0; t < store.tensors().size(); ++t) {
    const auto& st = store.tensors()[t];
    Planned p{dtypes[t % 3], {}};
    p.bytes.resize(static_cast<size_t>(st.elements) * static_cast<size_t>(ir::dtype_size(p.dtype)));
    for (int64_t i = 0; i < st.elements; ++i) {
      const float f = value_of(t, i);
      if (p.dtype == ir::DType::f32) {
        std::memcpy(p.bytes.data() + 4 * i, &f, 4);
      } else {
        const uint16_t h = p.dtype == ir::DType::bf16 ? float_to_bf16(f) : float_to_f16(f);
        std::memcpy(p.bytes.data() + 2 * i, &h, 2);
      }
    }
    planned.push_back(std::move(p));
  }
  for (size_t t = 0; t < store.tensors().size(); ++t) {
    const auto& st = store.tensors()[t];
    const int s = static_cast<int>(t % static_cast<size_t>(shards));
    refs[static_cast<size_t>(s)].push_back({st.name, planned[t].dtype, st.shape, planned[t].bytes.data()});
    map[st.name] = shards == 1 ? "model.safetensors" : "part-" + std::to_string(s) + ".safetensors";
  }
  for (int s = 0; s < shards; ++s)
    frontend::write_safetensors(
        dir + "/" + (shards == 1 ? std::string("model.safetensors") : "part-" + std::to_string(s) + ".safetensors"),
        refs[static_cast<size_t>(s)]);
  if (shards > 1) {
    nlohmann::json index = {{"metadata", {{"total_size", 1}}}, {"weight_map", map}};
    std::ofstream(dir + "/model.safetensors.index.json") << index.dump(2);
  }
  return planned;
}

float expected_master(const Planned& p, int64_t i) {
  if (p.dtype == ir::DType::f32) {
    float f;
    std::memcpy(&f, p.bytes.data() + 4 * i, 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, p.bytes.data() + 2 * i, 2);
  return p.dtype == ir::DType::bf16 ? bf16_to_float(h) : f16_to_float(h);
}

TEST(ModelDir, DescribesWhatTheDirectoryHolds) {
  TempDir dir;
  write_config(dir);
  dir.write("tokenizer.json", "{}");
  dir.write("tokenizer_config.json", "{}");
  dir.write("generation_config.json", "{}");
  frontend::ModelDir d = frontend::read_model_dir(dir.path() + "/");
  EXPECT_EQ(d.dir, dir.path());
  EXPECT_EQ(d.config, dir / "config.json");
  EXPECT_EQ(d.generation_config, dir / "generation_config.json");
  EXPECT_FALSE(d.has_weights());
  EXPECT_EQ(d.tokenizer_json(), dir / "tokenizer.json");
  EXPECT_EQ(d.tokenizer_files.size(), 2u);
  // config.json names its directory; a native model file has none.
  EXPECT_EQ(frontend::model_dir_of(dir / "config.json")->dir, dir.path());
  EXPECT_FALSE(frontend::model_dir_of(testing::source_path("models/tiny.json")).has_value());
}

TEST(ModelDir, LoadModelAcceptsADirectory) {
  TempDir dir;
  write_config(dir);
  ir::Module from_dir = frontend::load_model(dir.path());
  ir::Module from_file = frontend::load_model(dir / "config.json");
  EXPECT_EQ(from_dir.config_number("vocab", 0), from_file.config_number("vocab", 0));
  TempDir empty;
  empty.write("tokenizer.json", "{}");
  expect_user_error([&] { frontend::load_model(empty.path()); },
                    {empty.path(), "config.json", "holds a tokenizer but no config.json", "model directory"});
}

TEST(ModelDir, LoadsShardedMixedDtypesIntoTheSplitMaster) {
  TempDir dir;
  write_config(dir);
  ir::Module m = dir_model(dir.path());
  runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
  const std::vector<Planned> planned = write_weights(dir.path(), store, 3);
  store.init_random(3);  // moments are zeroed by the load, weights replaced
  std::memset(store.m(0), 0x5a, 8);
  const cli::WeightLoadReport r = cli::load_model_weights(dir.path(), store);
  EXPECT_EQ(r.tensors, static_cast<int64_t>(store.tensors().size()));
  EXPECT_EQ(r.shards, 3);
  EXPECT_EQ(r.dtypes, (std::set<std::string>{"BF16", "F16", "F32"}));
  EXPECT_NE(r.summary().find("initialized from " + dir.path() + ": " + std::to_string(r.tensors) + " tensors, bf16+f16+f32"),
            std::string::npos)
      << r.summary();
  for (size_t t = 0; t < store.tensors().size(); ++t) {
    const int64_t n = store.tensors()[t].elements;
    std::vector<float> master(static_cast<size_t>(n));
    store.get_master(static_cast<int>(t), master.data());
    for (int64_t i = 0; i < n; ++i)
      ASSERT_EQ(master[static_cast<size_t>(i)], expected_master(planned[t], i)) << store.tensors()[t].name << "[" << i << "]";
    // The working weight is the master's rounded upper half (f32 and f16 values that do not fit round).
    for (int64_t i = 0; i < std::min<int64_t>(n, 50); ++i)
      ASSERT_EQ(store.w_hi(static_cast<int>(t))[i], split_master(master[static_cast<size_t>(i)]).hi);
  }
  EXPECT_EQ(0, static_cast<const uint8_t*>(store.m(0))[0]);
}

TEST(ModelDir, FloatSixteenValuesThatDoNotFitBf16KeepTheirExactValue) {
  // 1 + 2^-10 is an f16 value; bf16 has 7 fraction bits, so the master must hold the rest.
  TempDir dir;
  write_config(dir);
  ir::Module m = dir_model(dir.path());
  runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
  std::vector<std::vector<uint16_t>> data;
  std::vector<frontend::SafetensorsTensorRef> refs;
  for (const auto& st : store.tensors()) {
    data.emplace_back(static_cast<size_t>(st.elements), float_to_f16(1.0f + 0x1p-10f));
    refs.push_back({st.name, ir::DType::f16, st.shape, data.back().data()});
  }
  frontend::write_safetensors(dir / "model.safetensors", refs);
  cli::load_model_weights(dir.path(), store);
  std::vector<float> master(static_cast<size_t>(store.tensors()[0].elements));
  store.get_master(0, master.data());
  EXPECT_EQ(master[0], 1.0f + 0x1p-10f);
  EXPECT_EQ(store.w_hi(0)[0], float_to_bf16(1.0f));
  EXPECT_NE(store.w_lo(0)[0], 0);
}

TEST(ModelDir, ThreadCountDoesNotChangeTheLoadedBytes) {
  TempDir dir;
  write_config(dir);
  ir::Module m = dir_model(dir.path());
  runtime::HostStore one(m, codegen::cpu::MomentType::bf16), many(m, codegen::cpu::MomentType::bf16);
  write_weights(dir.path(), one, 2);
  one.init_random(1);
  many.init_random(2);
  runtime::ThreadPool single(1), four(4);
  cli::load_model_weights(dir.path(), one, single);
  cli::load_model_weights(dir.path(), many, four);
  for (size_t r = 0; r < one.regions().size(); ++r) {
    const auto& a = one.regions()[r];
    const auto& b = many.regions()[r];
    const size_t n = static_cast<size_t>(a.elements);
    EXPECT_EQ(0, std::memcmp(a.w_hi, b.w_hi, 2 * n)) << a.stage;
    EXPECT_EQ(0, std::memcmp(a.w_lo, b.w_lo, 2 * n)) << a.stage;
    EXPECT_EQ(0, std::memcmp(a.m, b.m, 2 * n)) << a.stage;
    EXPECT_EQ(0, std::memcmp(a.v, b.v, 2 * n)) << a.stage;
  }
}

TEST(ModelDir, InitAcceptsIndexFileAndSingleFile) {
  TempDir dir;
  write_config(dir);
  ir::Module m = dir_model(dir.path());
  runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
  write_weights(dir.path(), store, 2);
  EXPECT_EQ(cli::load_model_weights(dir / "model.safetensors.index.json", store).shards, 2);
  // One shard alone lacks the other's tensors: the error names the tensor and the file.
  expect_user_error([&] { cli::load_model_weights(dir / "part-0.safetensors", store); },
                    {"part-0.safetensors", "no tensor of this name"});
}

// Index errors: each names the file, the tensor and what to do.
class IndexErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    write_config(dir);
    ir::Module m = dir_model(dir.path());
    runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
    write_weights(dir.path(), store, 2);
    name0 = store.tensors()[0].name;
    name1 = store.tensors()[1].name;
    index = nlohmann::json::parse(testing::read_file(dir / "model.safetensors.index.json"));
  }
  void rewrite(const nlohmann::json& j) { std::ofstream(dir / "model.safetensors.index.json") << j.dump(2); }
  TempDir dir;
  std::string name0, name1;
  nlohmann::json index;
};

TEST_F(IndexErrors, MissingShard) {
  std::filesystem::remove(dir / "part-1.safetensors");
  expect_user_error([&] { frontend::WeightFiles::open(dir.path()); },
                    {"model.safetensors.index.json", "weight_map." + name1, "part-1.safetensors", "download"});
}

TEST_F(IndexErrors, ShardLacksATensorTheIndexLists) {
  index["weight_map"][name0] = "part-1.safetensors";
  rewrite(index);
  expect_user_error([&] { frontend::WeightFiles::open(dir.path()); },
                    {"part-1.safetensors", name0, "the shard does not hold it"});
}

TEST_F(IndexErrors, TensorListedTwice) {
  std::string text = index.dump(2);
  const std::string key = "\"" + name0 + "\": \"part-0.safetensors\"";
  ASSERT_NE(text.find(key), std::string::npos);
  text.replace(text.find(key), key.size(), key + ",\n    \"" + name0 + "\": \"part-1.safetensors\"");
  std::ofstream(dir / "model.safetensors.index.json") << text;
  expect_user_error([&] { frontend::WeightFiles::open(dir.path()); },
                    {"model.safetensors.index.json", "weight_map." + name0, "listed twice"});
}

TEST_F(IndexErrors, TensorStoredInTwoShards) {
  // part-0 also holds name1, which the index places in part-1.
  std::vector<float> v(1, 0.0f);
  auto f0 = frontend::SafetensorsFile::open(dir / "part-0.safetensors");
  std::vector<std::vector<uint8_t>> keep;
  std::vector<frontend::SafetensorsTensorRef> refs;
  auto f1 = frontend::SafetensorsFile::open(dir / "part-1.safetensors");
  for (const auto* f : {&f0, &f1})
    for (const auto& e : f->tensors()) {
      if (f == &f1 && e.name != name1) continue;
      keep.push_back(f->read_bytes(e.name));
      const ir::DType dt = e.dtype == "F32" ? ir::DType::f32 : e.dtype == "F16" ? ir::DType::f16 : ir::DType::bf16;
      refs.push_back({e.name, dt, e.shape, keep.back().data()});
    }
  frontend::write_safetensors(dir / "part-0.safetensors", refs);
  expect_user_error([&] { frontend::WeightFiles::open(dir.path()); },
                    {"part-0.safetensors", name1, "stored in two shards", "part-1.safetensors"});
}

TEST_F(IndexErrors, NotAnIndex) {
  rewrite({{"metadata", {{"total_size", 5}}}});
  expect_user_error([&] { frontend::WeightFiles::open(dir.path()); }, {"index.json", "weight_map", "missing"});
  rewrite({{"weight_map", {{name0, "../x.safetensors"}}}});
  expect_user_error([&] { frontend::WeightFiles::open(dir.path()); }, {"weight_map." + name0, "not a file name"});
  std::ofstream(dir / "model.safetensors.index.json") << "{\"weight_map\": {";
  expect_user_error([&] { frontend::WeightFiles::open(dir.path()); }, {"index.json:1:", "malformed JSON"});
}

TEST_F(IndexErrors, IndexOpenedAsSafetensorsSaysWhatItIs) {
  expect_user_error([&] { frontend::SafetensorsFile::open(dir / "model.safetensors.index.json"); },
                    {"index.json", "JSON file, not a safetensors file", "model directory"});
}

TEST(ModelDirErrors, DirectoryWithoutWeights) {
  TempDir dir;
  write_config(dir);
  expect_user_error([&] { frontend::WeightFiles::open(dir.path()); }, {dir.path(), "holds no weights", "--init random"});
  dir.write("model-00001-of-00002.safetensors", "x");
  expect_user_error([&] { frontend::WeightFiles::open(dir.path()); },
                    {dir.path(), "neither model.safetensors nor model.safetensors.index.json", "add the"});
}

TEST(ModelDirErrors, ShapeMismatchNamesTheShardAndTensor) {
  TempDir dir;
  write_config(dir);
  ir::Module m = dir_model(dir.path());
  runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
  std::vector<std::vector<uint16_t>> data;
  std::vector<frontend::SafetensorsTensorRef> refs;
  for (const auto& st : store.tensors()) {
    std::vector<int64_t> shape = st.shape;
    if (refs.empty()) shape[0] += 1;
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    data.emplace_back(static_cast<size_t>(n), 0);
    refs.push_back({st.name, ir::DType::bf16, shape, data.back().data()});
  }
  frontend::write_safetensors(dir / "model.safetensors", refs);
  expect_user_error([&] { cli::load_model_weights(dir.path(), store); },
                    {"model.safetensors", store.tensors()[0].name, "does not match the model's"});
}

TEST(ModelDirErrors, TensorsTheModelHasNoPlaceForAreRefused) {
  TempDir dir;
  write_config(dir);
  ir::Module m = dir_model(dir.path());
  runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
  auto write_with = [&](const std::string& extra) {
    std::vector<std::vector<uint16_t>> data;
    std::vector<frontend::SafetensorsTensorRef> refs;
    for (const auto& st : store.tensors()) {
      data.emplace_back(static_cast<size_t>(st.elements), 0);
      refs.push_back({st.name, ir::DType::bf16, st.shape, data.back().data()});
    }
    data.emplace_back(4, 0);
    refs.push_back({extra, ir::DType::bf16, {4}, data.back().data()});
    frontend::write_safetensors(dir / "model.safetensors", refs);
  };
  // A Qwen3 checkpoint read with a Qwen2 config would lose its q/k norms: refused.
  write_with("model.layers.0.self_attn.q_norm.weight");
  expect_user_error([&] { cli::load_model_weights(dir.path(), store); },
                    {"model.safetensors", "model.layers.0.self_attn.q_norm.weight", "1 tensor(s) this model does not have",
                     "check config.json"});
  write_with("model.layers.0.self_attn.rotary_emb.inv_freq");  // old exports' rotary tables are harmless
  EXPECT_EQ(cli::load_model_weights(dir.path(), store).tensors, static_cast<int64_t>(store.tensors().size()));
}

TEST(InitialWeights, DirectoryWeightsUnlessToldOtherwise) {
  TempDir dir;
  write_config(dir);
  const std::string tiny = testing::source_path("models/tiny.json");
  EXPECT_EQ(cli::initial_weights(tiny, "", false), "");
  expect_user_error([&] { cli::initial_weights(dir.path(), "", false); }, {dir.path(), "without weights", "--init random"});
  // config.json follows the same rule as its directory.
  expect_user_error([&] { cli::initial_weights(dir / "config.json", "", false); }, {"without weights"});
  EXPECT_EQ(cli::initial_weights(dir.path(), "random", false), "");
  EXPECT_EQ(cli::initial_weights(dir.path(), "/w", false), "/w");
  EXPECT_EQ(cli::initial_weights(dir.path(), "", true), "");
  dir.write("model.safetensors", "");
  EXPECT_EQ(cli::initial_weights(dir / "config.json", "", false), dir.path());
}

TEST(ModelTokenizer, ByteLevelOnlyForTheByteVocabulary) {
  TempDir dir;
  write_config(dir);
  ir::Module bytes = dir_model(dir.path());
  EXPECT_EQ(cli::model_tokenizer(dir.path(), bytes)->vocab_size(), 256);
  nlohmann::json big = nlohmann::json::parse(testing::read_file(dir / "config.json"));
  big["vocab_size"] = 128256;
  TempDir big_dir;
  big_dir.write("config.json", big.dump());
  ir::Module m = frontend::load_model(big_dir.path());
  expect_user_error([&] { cli::model_tokenizer(big_dir.path(), m, "text data"); },
                    {big_dir.path(), "128256-token vocabulary and no tokenizer.json", "tokenizer files",
                     "pass a token file with --data"});
}

TEST(ModelDirCommands, TrainStartsFromTheDirectoryWeightsAndSaysSo) {
  TempDir dir;
  write_config(dir);
  {
    ir::Module m = dir_model(dir.path());
    runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
    write_weights(dir.path(), store, 2);
  }
  const std::string data = dir.write("data.txt", std::string(4000, 'a') + "hello world\n");
  const std::string common = " --data " + data + " --steps 1 --batch 2 --seq 16 --device cpu --eval-batches 0";
  auto r = testing::run_horizon("train " + dir.path() + common);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("initialized from " + dir.path() + ": "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tensors, bf16+f16+f32 ("), std::string::npos) << r.out;
  TempDir bare;
  bare.write("config.json", testing::read_file(dir / "config.json"));
  r = testing::run_horizon("train " + bare.path() + "/config.json" + common);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--init random"), std::string::npos) << r.err;
  r = testing::run_horizon("train " + bare.path() + common + " --init random");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("initialized from"), std::string::npos) << r.out;
  r = testing::run_horizon("train " + bare.path() + common + " --init " + dir.path() + "/model.safetensors.index.json");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("initialized from " + dir.path() + "/model.safetensors.index.json: "), std::string::npos);
}

TEST(ModelDirCommands, EveryCommandTakesADirectory) {
  TempDir dir;
  write_config(dir);
  {
    ir::Module m = dir_model(dir.path());
    runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
    write_weights(dir.path(), store, 1);
  }
  for (const std::string& cmd : {"compile " + dir.path() + " --params", "plan " + dir.path() + " --batch 2 --seq 16",
                                 "import " + dir.path(), "sample " + dir.path() + " --tokens 4 --prompt hi",
                                 "gradients " + dir.path() + " --text 'some text to tokenize here' --batch 1 --seq 8 "
                                 "--out " + dir.path() + "/g.safetensors"}) {
    auto r = testing::run_horizon(cmd);
    EXPECT_EQ(r.exit_code, 0) << cmd << "\n" << r.err;
  }
  EXPECT_TRUE(std::filesystem::exists(dir / "g.safetensors"));
  // A big vocabulary without tokenizer files: text is refused, naming the fix.
  nlohmann::json big = nlohmann::json::parse(testing::read_file(dir / "config.json"));
  big["vocab_size"] = 512;
  TempDir big_dir;
  big_dir.write("config.json", big.dump());
  auto r = testing::run_horizon("sample " + big_dir.path() + " --weights " + dir.path() + " --tokens 2");
  EXPECT_NE(r.err.find("512-token vocabulary and no tokenizer.json"), std::string::npos) << r.err;
  r = testing::run_horizon("train " + big_dir.path() + " --init random --steps 1 --data " + dir.path() + "/config.json");
  EXPECT_NE(r.err.find("pass a token file with --data"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace horizon
