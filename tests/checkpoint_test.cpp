// Checkpoint folders: the manifest catches every kind of damage (tests that
// plant it), optimizer tensors are checked before a byte is copied, and the
// run folder is locked and never silently reused.
#include "cli/checkpoint.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "cli/checkpoint_manifest.h"
#include "cli/run_directory.h"
#include "frontend/safetensors.h"
#include "runtime/host_store.h"
#include "support/crc32c.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

namespace fs = std::filesystem;
using testing::expect_user_error;

TEST(Crc32c, KnownValues) {
  // The check value of CRC-32C (RFC 3720, appendix B.4).
  EXPECT_EQ(crc32c(0, "123456789", 9), 0xe3069283u);
  EXPECT_EQ(crc32c(0, "", 0), 0u);
  std::string zeros(32, '\0');
  EXPECT_EQ(crc32c(0, zeros.data(), zeros.size()), 0x8a9136aau);
  // Continuing over pieces gives the whole's value.
  EXPECT_EQ(crc32c(crc32c(0, "12345", 5), "6789", 4), 0xe3069283u);
}

void write_file(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}

void flip_byte(const std::string& path, uint64_t at) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(at));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x10);
  f.seekp(static_cast<std::streamoff>(at));
  f.write(&c, 1);
}

struct Saved {
  ir::Module m = testing::lowered("tiny-qwen.json");
  runtime::HostStore store{m, codegen::cpu::MomentType::bf16};
  testing::TempDir dir;
  Saved() {
    store.init_random(3);
    store.set_step(7);
    cli::save_checkpoint(dir.path(), m, store);
  }
};

TEST(Checkpoint, ManifestListsEveryFileAndVerifies) {
  Saved s;
  cli::Manifest man = cli::verify_manifest(s.dir.path());
  EXPECT_EQ(man.step, 7);
  std::vector<std::string> names;
  for (const auto& e : man.files) names.push_back(e.file);
  EXPECT_EQ(names, (std::vector<std::string>{"config.json", "generation_config.json", "model.safetensors",
                                             "optimizer.safetensors"}));
  runtime::HostStore back(s.m, codegen::cpu::MomentType::bf16);
  EXPECT_EQ(cli::resume_checkpoint(s.dir.path(), back).step, 7);
}

TEST(Checkpoint, FlippedByteTruncationAndMissingManifestAreCaught) {
  Saved s;
  runtime::HostStore back(s.m, codegen::cpu::MomentType::bf16);
  const std::string opt = s.dir / "optimizer.safetensors";
  flip_byte(opt, fs::file_size(opt) - 3);
  expect_user_error([&] { cli::resume_checkpoint(s.dir.path(), back); }, {opt, "CRC-32C", "does not match"});
  fs::resize_file(opt, fs::file_size(opt) - 1);
  expect_user_error([&] { cli::resume_checkpoint(s.dir.path(), back); }, {opt, "bytes, but manifest.json says"});
  fs::remove(s.dir / "manifest.json");
  expect_user_error([&] { cli::resume_checkpoint(s.dir.path(), back); }, {"no manifest.json", "incomplete"});
  EXPECT_EQ(back.step(), 0) << "a failed resume must not touch the store";
}

// Rewrites the optimizer file with one tensor replaced and a fresh manifest,
// as a damaged or hostile checkpoint would be.
void rewrite_optimizer(const Saved& s, const std::string& tensor, std::vector<int64_t> shape, const std::string& step) {
  const std::string path = s.dir / "optimizer.safetensors";
  frontend::SafetensorsFile file = frontend::SafetensorsFile::open(path);
  std::vector<std::vector<uint8_t>> keep;
  std::vector<frontend::SafetensorsTensorRef> refs;
  for (const auto& e : file.tensors()) {
    keep.push_back(file.read_bytes(e.name));
    std::vector<int64_t> sh = e.shape;
    ir::DType dt = e.dtype == "F32" ? ir::DType::f32 : ir::DType::bf16;
    if (e.name == tensor) {
      sh = shape;
      int64_t n = 1;
      for (int64_t d : sh) n *= d;
      keep.back().assign(static_cast<size_t>(n) * (dt == ir::DType::f32 ? 4 : 2), 0);
    }
    refs.push_back({e.name, dt, sh, keep.back().data()});
  }
  frontend::write_safetensors(path, refs, {{"step", step}, {"model", s.m.name}});
  cli::write_manifest(s.dir.path(), 7, {"config.json", "model.safetensors", "optimizer.safetensors"});
}

TEST(Checkpoint, OptimizerShapesAndStepAreCheckedBeforeCopying) {
  auto expect_refused = [](const std::string& tensor, int64_t factor_num, int64_t factor_den, const std::string& step,
                           std::initializer_list<std::string> parts) {
    Saved s;
    std::vector<int64_t> shape;
    if (!tensor.empty()) {
      shape = s.store.tensors()[0].shape;
      shape[0] = shape[0] * factor_num / factor_den;
    }
    rewrite_optimizer(s, tensor.empty() ? "" : s.store.tensors()[0].name + tensor, shape, step);
    runtime::HostStore back(s.m, codegen::cpu::MomentType::bf16);
    expect_user_error([&] { cli::resume_checkpoint(s.dir.path(), back); }, parts);
    EXPECT_EQ(back.step(), 0);
  };
  expect_refused(".exp_avg", 2, 1, "7", {".exp_avg", "does not match"});        // larger: would overflow the store
  expect_refused(".exp_avg_sq", 1, 2, "7", {".exp_avg_sq", "does not match"});  // smaller: would be half-copied
  expect_refused("", 1, 1, "-5", {"__metadata__.step", "'-5'"});
  expect_refused("", 1, 1, "abc", {"__metadata__.step", "'abc'"});
  expect_refused("", 1, 1, "5", {"mixes files of two saves"});
}

TEST(Checkpoint, RefusesToSaveNonFiniteWeights) {
  Saved s;
  std::vector<float> w(static_cast<size_t>(s.store.tensors()[1].elements), 0.5f);
  w[3] = std::nanf("");
  s.store.set_master(1, w.data());
  testing::TempDir out;
  expect_user_error([&] { cli::save_checkpoint(out / "c", s.m, s.store); }, {s.store.tensors()[1].name, "non-finite"});
  EXPECT_FALSE(fs::exists(out / "c/manifest.json"));
}

TEST(RunDirectory, LocksRefusesReuseAndFiles) {
  testing::TempDir t;
  const std::string dir = t / "run";
  {
    cli::RunDirectory first(dir, false, false);
    expect_user_error([&] { cli::RunDirectory second(dir, true, false); }, {"another horizon run is writing"});
    first.save(
        2, [](const std::string& tmp) { write_file(tmp + "/x", "x"); }, 0);
  }
  expect_user_error([&] { cli::RunDirectory again(dir, false, false); },
                    {"already holds a run", "--resume", "--overwrite"});
  { cli::RunDirectory resumed(dir, true, false); }
  { cli::RunDirectory replaced(dir, false, true); }
  EXPECT_FALSE(fs::exists(dir + "/checkpoint-2")) << "--overwrite deletes the old checkpoints";
  const std::string file = t.write("a-file", "x");
  expect_user_error([&] { cli::RunDirectory onto_file(file, false, false); }, {file, "existing file"});
}

TEST(RunDirectory, SaveIsAtomicAndKeepPrunes) {
  testing::TempDir t;
  const std::string dir = t / "run";
  cli::RunDirectory run(dir, false, false);
  auto write = [](const std::string& tmp) {
    fs::create_directories(tmp);
    write_file(tmp + "/manifest.json", "{}");
  };
  for (int64_t step : {2, 4, 6}) run.save(step, write, 2);
  auto all = cli::list_checkpoints(dir);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].first, 4);
  EXPECT_EQ(all[1].first, 6);
  // A save that fails leaves no folder behind, and the older ones stand.
  EXPECT_THROW(run.save(
                   8, [](const std::string&) { throw UserError("disk full"); }, 2),
               UserError);
  EXPECT_FALSE(fs::exists(dir + "/checkpoint-8"));
  EXPECT_FALSE(fs::exists(dir + "/.tmp-checkpoint-8"));
  EXPECT_EQ(cli::find_resume_checkpoint(dir), dir + "/checkpoint-6");
  // A checkpoint without a manifest (a save cut short by hand) is not chosen.
  fs::create_directories(dir + "/checkpoint-9");
  EXPECT_EQ(cli::find_resume_checkpoint(dir), dir + "/checkpoint-6");
}

}  // namespace
}  // namespace horizon
