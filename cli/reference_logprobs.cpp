#include "cli/reference_logprobs.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>

#include "data/token_cache.h"
#include "runtime/cpu/cpu_model.h"
#include "support/error.h"

namespace horizon::cli {
namespace fs = std::filesystem;
namespace {

constexpr char kMagic[8] = {'H', 'Z', 'R', 'E', 'F', 'L', 'P', '1'};

std::string cache_path(const TrainData& data, const ir::Module& lowered, const std::string& weights, int64_t seq) {
  if (data.cache_dir.empty() || data.cache_key.empty()) return "";
  bool average = false;
  if (const ir::Stage* head = lowered.find_stage("head"))
    for (const ir::Instr& in : head->instrs)
      if (in.op == ir::Op::sequence_logprob) average = ir::attr_number_or(in.attrs, "average", 0) != 0;
  data::ContentHash h;
  h.add_field(data.cache_key);
  h.add_field(weights);
  h.add_field(average ? "mean" : "sum");
  h.add_field(std::to_string(seq));
  return data.cache_dir + "/" + data.cache_key + ".reference-" + h.hex() + ".f32";
}

bool read_cached(const std::string& path, int64_t documents, std::vector<float>& out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  char magic[8];
  int64_t n = 0;
  if (!f.read(magic, 8) || std::memcmp(magic, kMagic, 8) != 0) return false;
  if (!f.read(reinterpret_cast<char*>(&n), sizeof n) || n != documents) return false;
  out.assign(static_cast<size_t>(n), 0.0f);
  return static_cast<bool>(f.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(n * 4)));
}

void write_cached(const std::string& path, const std::vector<float>& values) {
  fs::create_directories(fs::path(path).parent_path());
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    const int64_t n = static_cast<int64_t>(values.size());
    f.write(kMagic, 8);
    f.write(reinterpret_cast<const char*>(&n), sizeof n);
    f.write(reinterpret_cast<const char*>(values.data()), static_cast<std::streamsize>(n * 4));
    if (!f) throw_user_error(tmp, "", "cannot write the reference log-probabilities", "check the cache folder");
  }
  fs::rename(tmp, path);
}

}  // namespace

std::string weights_identity(const std::string& model, const std::string& init, uint64_t seed) {
  std::string id = "model " + model + "\n";
  if (init.empty()) return id + "random seed " + std::to_string(seed) + "\n";
  std::error_code ec;
  std::vector<fs::path> files;
  if (fs::is_directory(init, ec)) {
    for (const auto& e : fs::directory_iterator(init, ec))
      if (e.is_regular_file()) files.push_back(e.path());
  } else {
    files.push_back(init);
  }
  std::sort(files.begin(), files.end());
  for (const fs::path& p : files) {
    const auto size = fs::file_size(p, ec);
    const auto time = fs::last_write_time(p, ec).time_since_epoch().count();
    id += p.string() + " " + std::to_string(size) + " " + std::to_string(time) + "\n";
  }
  return id;
}

ReferenceLogprobs reference_logprobs(const ir::Module& lowered, const runtime::HostStore& store, const TrainData& data,
                                     const std::string& weights, int64_t seq,
                                     const std::function<std::vector<float>(const runtime::TokenBatch&)>& forward) {
  ReferenceLogprobs out;
  const std::string path = cache_path(data, lowered, weights, seq);
  if (!path.empty() && read_cached(path, data.documents, out.per_document)) {
    out.note = "reference log-probabilities: cache hit " + path;
    return out;
  }
  const auto start = std::chrono::steady_clock::now();
  out.per_document.assign(static_cast<size_t>(data.documents), std::numeric_limits<float>::quiet_NaN());
  std::unique_ptr<runtime::CpuModel> model;
  if (!forward) model = std::make_unique<runtime::CpuModel>(lowered, store);
  int64_t sequences = 0;
  for (const data::Batch& b : data.reference_batches()) {
    runtime::BatchView view{b.tokens.data(), b.targets.data(), nullptr, nullptr, b.batch, b.seq, -1};
    const std::vector<float> logps = forward
                                         ? forward(runtime::TokenBatch{b.batch, b.seq, b.tokens, b.targets, {}, {}, {}})
                                         : model->sequence_logprobs(view);
    for (int64_t r = 0; r < b.batch; ++r)
      out.per_document[static_cast<size_t>(b.documents[static_cast<size_t>(r)])] = logps[static_cast<size_t>(r)];
    sequences += b.batch;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  char text[160];
  std::snprintf(text, sizeof text, "reference log-probabilities: %lld sequences by the starting weights in %.2f s (%s)",
                static_cast<long long>(sequences), seconds, forward ? "GPU" : "CPU");
  out.note = text;
  if (!path.empty()) {
    try {
      write_cached(path, out.per_document);
      out.note += "; cached at " + path;
    } catch (const std::exception& e) {
      out.note += std::string("; not cached: ") + e.what();
    }
  }
  return out;
}

}  // namespace horizon::cli
