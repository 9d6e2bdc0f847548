// Model directories as output: transformers' shard split and names, the
// index format, the source config kept verbatim, generation config and
// tokenizer files, and a save -> load round trip.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/checkpoint.h"
#include "cli/model_dir_writer.h"
#include "cli/weight_loader.h"
#include "frontend/hf_export.h"
#include "frontend/model_json.h"
#include "frontend/safetensors_index.h"
#include "passes/lower.h"
#include "test_support.h"

namespace horizon {
namespace {

using testing::expect_user_error;
using testing::TempDir;
namespace fs = std::filesystem;

TEST(ShardSplit, FollowsHuggingFaceHub) {
  // huggingface_hub's documented example: limit 10, sizes [6, 6, 2, 6, 2, 2] -> [6], [6+2], [6+2+2].
  EXPECT_EQ(cli::split_into_shards({6, 6, 2, 6, 2, 2}, 10),
            (std::vector<std::vector<int>>{{0}, {1, 2}, {3, 4, 5}}));
  // A tensor above the limit gets a shard of its own, placed before the shard being filled.
  EXPECT_EQ(cli::split_into_shards({3, 20, 4, 5}, 10), (std::vector<std::vector<int>>{{1}, {0, 2}, {3}}));
  EXPECT_EQ(cli::split_into_shards({3, 4}, 10), (std::vector<std::vector<int>>{{0, 1}}));
  EXPECT_EQ(cli::split_into_shards({5, 5}, 10), (std::vector<std::vector<int>>{{0, 1}}));  // exactly full fits
}

TEST(ShardSplit, NamesAndSizes) {
  EXPECT_EQ(cli::shard_file_name(0, 1), "model.safetensors");
  EXPECT_EQ(cli::shard_file_name(1, 3), "model-00002-of-00003.safetensors");
  EXPECT_EQ(cli::parse_shard_size("5GB"), 5'000'000'000u);
  EXPECT_EQ(cli::parse_shard_size("2GiB"), 2ull << 30);
  EXPECT_EQ(cli::parse_shard_size("500MB"), 500'000'000u);
  EXPECT_EQ(cli::parse_shard_size("10kb"), 10'000u / 8);  // transformers: lowercase b is bits
  EXPECT_EQ(cli::parse_shard_size("4096"), 4096u);
  for (const char* bad : {"", "GB", "5 GB", "-1GB", "0", "5TB"})
    expect_user_error([&] { cli::parse_shard_size(bad); }, {"--max-shard-size", "5GB"});
}

struct Source {
  TempDir dir;
  nlohmann::ordered_json config;
  Source() {
    config = frontend::hf_config_from_module(testing::lowered("tiny-qwen.json"));
    // Fields a real config carries that the engine does not read: kept verbatim.
    config["bos_token_id"] = 1;
    config["eos_token_id"] = nlohmann::ordered_json::array({2, 3});
    config["torch_dtype"] = "float32";
    config["custom_field"] = {{"nested", {1.5, "x", nullptr}}};
    config["transformers_version"] = "4.51.0";
    dir.write("config.json", config.dump(2));
    dir.write("tokenizer.json", "{\"model\": {}}");
    dir.write("tokenizer_config.json", "{\"bos_token\": \"<s>\"}");
    dir.write("chat_template.jinja", "{{ messages }}");
  }
};

ir::Module load_lowered(const std::string& path) {
  ir::Module m = frontend::load_model(path);
  passes::lower(m);
  return m;
}

TEST(ModelDirWriter, ShardedSaveMatchesTransformersLayoutAndReloadsBitExact) {
  Source src;
  ir::Module m = load_lowered(src.dir.path());
  runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
  store.init_random(7);
  TempDir out;
  // Stale weights of an earlier, differently sharded save must go.
  out.write("model.safetensors", "old");
  out.write("model-00007-of-00009.safetensors", "old");
  out.write("notes.txt", "kept");
  const uint64_t limit = 16 * 1024;
  cli::write_model_dir(out.path(), m, store, {src.dir.path(), limit});

  // The expected split, computed from the store's order and bf16 sizes.
  std::vector<uint64_t> sizes;
  uint64_t total = 0;
  for (const auto& t : store.tensors()) total += sizes.emplace_back(static_cast<uint64_t>(t.elements) * 2);
  const auto shards = cli::split_into_shards(sizes, limit);
  ASSERT_GT(shards.size(), 2u);
  nlohmann::json map = nlohmann::json::object();
  for (size_t s = 0; s < shards.size(); ++s) {
    const std::string name = cli::shard_file_name(static_cast<int>(s), static_cast<int>(shards.size()));
    EXPECT_TRUE(fs::exists(out / name)) << name;
    uint64_t bytes = 0;
    for (int t : shards[s]) {
      map[store.tensors()[static_cast<size_t>(t)].name] = name;
      bytes += sizes[static_cast<size_t>(t)];
    }
    EXPECT_TRUE(bytes <= limit || shards[s].size() == 1);
    EXPECT_EQ(frontend::SafetensorsFile::open(out / name).metadata().at("format"), "pt");
  }
  // The index byte for byte as save_pretrained writes it (json.dumps(indent=2, sort_keys=True) + "\n").
  nlohmann::json index = {{"metadata", {{"total_parameters", store.parameter_count()}, {"total_size", total}}},
                          {"weight_map", map}};
  EXPECT_EQ(testing::read_file(out / "model.safetensors.index.json"), index.dump(2) + "\n");
  EXPECT_EQ(testing::read_file(out / "model.safetensors.index.json").substr(0, 40),
            "{\n  \"metadata\": {\n    \"total_parameters\"");
  EXPECT_FALSE(fs::exists(out / "model.safetensors"));
  EXPECT_FALSE(fs::exists(out / "model-00007-of-00009.safetensors"));
  EXPECT_TRUE(fs::exists(out / "notes.txt"));

  // Reload: the bf16 working weights come back exactly.
  runtime::HostStore back(m, codegen::cpu::MomentType::bf16);
  const cli::WeightLoadReport r = cli::load_model_weights(out.path(), back);
  EXPECT_EQ(r.shards, static_cast<int>(shards.size()));
  EXPECT_EQ(r.dtypes, std::set<std::string>{"BF16"});
  for (size_t t = 0; t < store.tensors().size(); ++t)
    EXPECT_EQ(0, std::memcmp(store.w_hi(static_cast<int>(t)), back.w_hi(static_cast<int>(t)),
                             static_cast<size_t>(store.tensors()[t].elements) * 2))
        << store.tensors()[t].name;
  // ... and the saved directory is itself a MODEL argument.
  EXPECT_EQ(load_lowered(out.path()).config_number("vocab", 0), m.config_number("vocab", 0));
}

TEST(ModelDirWriter, KeepsTheSourceConfigAndCopiesTokenizerFiles) {
  Source src;
  ir::Module m = load_lowered(src.dir.path() + "/config.json");
  runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
  store.init_random(1);
  TempDir out;
  out.write("model.safetensors.index.json", "{}");  // stale index of a sharded save
  cli::write_model_dir(out.path(), m, store, {src.dir.path() + "/config.json"});
  EXPECT_TRUE(fs::exists(out / "model.safetensors"));
  EXPECT_FALSE(fs::exists(out / "model.safetensors.index.json"));

  nlohmann::ordered_json saved = nlohmann::ordered_json::parse(testing::read_file(out / "config.json"));
  nlohmann::ordered_json want = src.config;
  want["_name_or_path"] = src.dir.path();
  want["torch_dtype"] = "bfloat16";
  EXPECT_EQ(saved, want);  // every other field verbatim, in the source's order
  EXPECT_EQ(saved.begin().key(), src.config.begin().key());

  // No generation_config.json in the source: made from the config's ids.
  nlohmann::json gen = nlohmann::json::parse(testing::read_file(out / "generation_config.json"));
  EXPECT_EQ(gen["bos_token_id"], 1);
  EXPECT_EQ(gen["eos_token_id"], nlohmann::json::array({2, 3}));
  for (const char* f : {"tokenizer.json", "tokenizer_config.json", "chat_template.jinja"})
    EXPECT_EQ(testing::read_file(out / f), testing::read_file(src.dir / f)) << f;
  EXPECT_FALSE(fs::exists(out / "special_tokens_map.json"));

  // A source generation_config.json is copied as it is.
  src.dir.write("generation_config.json", "{\"do_sample\": true, \"temperature\": 0.6}\n");
  cli::write_model_dir(out.path(), m, store, {src.dir.path()});
  EXPECT_EQ(testing::read_file(out / "generation_config.json"), "{\"do_sample\": true, \"temperature\": 0.6}\n");
  // Saving into the source directory itself leaves its files as they were.
  cli::write_model_dir(src.dir.path(), m, store, {src.dir.path()});
  EXPECT_EQ(testing::read_file(src.dir / "tokenizer.json"), "{\"model\": {}}");
}

TEST(ModelDirWriter, NativeModelGetsTheExportedConfig) {
  ir::Module m = testing::lowered("tiny-qwen.json");
  runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
  store.init_random(1);
  TempDir out;
  cli::save_checkpoint(out.path(), m, store, nullptr, {testing::source_path("models/tiny-qwen.json")});
  EXPECT_EQ(nlohmann::json::parse(testing::read_file(out / "config.json")),
            nlohmann::json::parse(frontend::hf_config_from_module(m).dump()));
  EXPECT_TRUE(fs::exists(out / "generation_config.json"));
  EXPECT_TRUE(fs::exists(out / "optimizer.safetensors"));
  EXPECT_FALSE(fs::exists(out / "tokenizer.json"));
}

TEST(ModelDirWriter, TrainSaveWritesAModelDirectory) {
  Source src;
  {
    ir::Module m = load_lowered(src.dir.path());
    runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
    store.init_random(2);
    cli::write_model_dir(src.dir.path(), m, store, {src.dir.path()});
  }
  // Text data goes through the model's tokenizer: this fake tokenizer.json would be read.
  fs::remove(src.dir / "tokenizer.json");
  TempDir out;
  const std::string data = out.write("data.txt", std::string(3000, 'b') + "text\n");
  auto r = testing::run_horizon("train " + src.dir.path() + " --data " + data +
                                " --steps 1 --batch 2 --seq 16 --device cpu --eval-batches 0 --max-shard-size 20KB"
                                " --save " + out.path() + "/run");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(out / "run/model.safetensors.index.json"));
  const auto index = nlohmann::json::parse(testing::read_file(out / "run/model.safetensors.index.json"));
  for (const auto& [tensor, shard] : index["weight_map"].items())
    EXPECT_TRUE(fs::exists(out / ("run/" + shard.get<std::string>()))) << tensor;
  EXPECT_TRUE(fs::exists(out / "run/tokenizer_config.json"));
  EXPECT_EQ(nlohmann::json::parse(testing::read_file(out / "run/config.json"))["custom_field"],
            src.config["custom_field"]);
  r = testing::run_horizon("train " + src.dir.path() + " --data " + data + " --max-shard-size 5XB");
  EXPECT_NE(r.err.find("--max-shard-size"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace horizon
