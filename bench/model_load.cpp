// Weight loading rate and peak memory (issue 11: at least 1.5 GB/s from the
// page cache for a 7B directory; peak RSS at most the host store plus one shard).
//   bench_model_load write MODEL DIR [SHARD_SIZE]   a synthetic Hugging Face directory of MODEL's
//                                                   shapes: config.json + bf16 shards (default 5GB)
//   bench_model_load load DIR [REPEATS]             loads DIR into a host store, REPEATS times
// Run the two as separate processes (bench/model_load.sh does) so the peak RSS
// of `load` is the load's alone. The first load after `write` may read from
// disk; later repeats read from the page cache.
#include <sys/resource.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "cli/model_dir_writer.h"
#include "cli/weight_loader.h"
#include "frontend/hf_export.h"
#include "frontend/model_json.h"
#include "frontend/safetensors.h"
#include "ir/param_layout.h"
#include "passes/lower.h"
#include "support/error.h"

using namespace horizon;

namespace {

double peak_rss_bytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) * 1024.0;
}

int write_dir(const std::string& model_path, const std::string& dir, uint64_t max_shard) {
  ir::Module m = frontend::load_model(model_path);
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/config.json") << frontend::hf_config_from_module(m).dump(2) << "\n";
  passes::lower(m);
  const ir::ParamLayout layout = ir::layout_params(m);
  std::vector<uint64_t> sizes;
  for (const auto& t : layout.tensors) sizes.push_back(static_cast<uint64_t>(t.elements) * 2);
  const auto shards = cli::split_into_shards(sizes, max_shard);
  nlohmann::json map = nlohmann::json::object();
  uint64_t total = 0;
  for (size_t s = 0; s < shards.size(); ++s) {
    const std::string name = cli::shard_file_name(static_cast<int>(s), static_cast<int>(shards.size()));
    std::vector<std::vector<uint16_t>> data;  // one shard in memory at a time
    std::vector<frontend::SafetensorsTensorRef> refs;
    for (int t : shards[s]) {
      const auto& lt = layout.tensors[static_cast<size_t>(t)];
      auto& d = data.emplace_back(static_cast<size_t>(lt.elements));
      for (size_t i = 0; i < d.size(); ++i) d[i] = static_cast<uint16_t>(0x3c00u + ((i * 2654435761u + t) & 0x3ffu));
      refs.push_back({lt.name, ir::DType::bf16, lt.shape, d.data()});
      map[lt.name] = name;
      total += sizes[static_cast<size_t>(t)];
    }
    frontend::write_safetensors(dir + "/" + name, refs, {{"format", "pt"}});
    std::printf("wrote %s (%zu tensors)\n", name.c_str(), refs.size());
  }
  if (shards.size() > 1)
    std::ofstream(dir + "/model.safetensors.index.json")
        << nlohmann::json{{"metadata", {{"total_size", total}}}, {"weight_map", map}}.dump(2) << "\n";
  std::printf("%s: %zu tensors, %.2f GB of bf16 in %zu shard(s)\n", dir.c_str(), layout.tensors.size(),
              static_cast<double>(total) / 1e9, shards.size());
  return 0;
}

int load_dir(const std::string& dir, int repeats) {
  ir::Module m = frontend::load_model(dir);
  passes::lower(m);
  runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
  uint64_t largest_shard = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".safetensors") largest_shard = std::max<uint64_t>(largest_shard, e.file_size());
  const double before = peak_rss_bytes();
  for (int r = 0; r < repeats; ++r) {
    const cli::WeightLoadReport report = cli::load_model_weights(dir, store);
    std::printf("load %d: %s\n", r + 1, report.summary("loaded").c_str());
  }
  const double peak = peak_rss_bytes();
  // Loading may add at most one shard to what the process held with the store allocated.
  const double added = peak - before;
  std::printf("threads %d | host store %.2f GB | largest shard %.2f GB | peak RSS %.2f GB, %.2f GB before loading: "
              "loading added %.2f GB (%s one shard)\n",
              runtime::ThreadPool::global().size(), static_cast<double>(store.bytes()) / 1e9,
              static_cast<double>(largest_shard) / 1e9, peak / 1e9, before / 1e9, added / 1e9,
              added <= static_cast<double>(largest_shard) * 1.01 + 64e6 ? "at most" : "MORE THAN");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "write" && (argc == 4 || argc == 5))
      return write_dir(argv[2], argv[3], argc == 5 ? cli::parse_shard_size(argv[4]) : cli::kDefaultMaxShardBytes);
    if (mode == "load" && (argc == 3 || argc == 4)) return load_dir(argv[2], argc == 4 ? std::atoi(argv[3]) : 3);
    std::fprintf(stderr, "usage: bench_model_load write MODEL DIR [SHARD_SIZE]\n"
                         "       bench_model_load load DIR [REPEATS]\n");
    return 2;
  } catch (const UserError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
