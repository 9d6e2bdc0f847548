// Shard-by-shard parallel conversion into the split master. The work of a
// shard is one flat range of elements over all its tensors, cut into chunks
// by the thread pool, so one huge embedding and many small norms balance.
#include "cli/weight_loader.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>

#include "support/bf16.h"
#include "support/error.h"
#include "support/moment_quantization.h"

namespace horizon::cli {
namespace {

struct Job {
  int tensor = 0;
  const uint8_t* src = nullptr;
  std::string dtype;
  int64_t first = 0;  // this job's first element in the shard's flat range
  int64_t elements = 0;
  std::atomic<bool>* non_finite = nullptr;  // set when an element is Inf or NaN
};

std::string shape_text(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// Elements [begin, end) of one tensor: converted into w_hi/w_lo, moments zeroed.
void convert(const Job& job, int64_t begin, int64_t end, runtime::HostStore& store) {
  uint16_t* hi = store.w_hi(job.tensor) + begin;
  uint16_t* lo = store.w_lo(job.tensor) + begin;
  const size_t n = static_cast<size_t>(end - begin);
  if (job.dtype == "BF16") {
    // A bf16 value is its own rounded upper half with an all-zero remainder.
    std::memcpy(hi, job.src + 2 * begin, 2 * n);
    std::memset(lo, 0, 2 * n);
  } else if (job.dtype == "F16") {
    for (size_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, job.src + 2 * (begin + static_cast<int64_t>(i)), 2);
      const MasterPlanes p = split_master(f16_to_float(h));
      hi[i] = p.hi;
      lo[i] = p.lo;
    }
  } else {
    for (size_t i = 0; i < n; ++i) {
      float f;
      std::memcpy(&f, job.src + 4 * (begin + static_cast<int64_t>(i)), 4);
      const MasterPlanes p = split_master(f);
      hi[i] = p.hi;
      lo[i] = p.lo;
    }
  }
  // All-ones exponent in the upper half: an Inf or NaN, which training must never start from.
  for (size_t i = 0; i < n; ++i)
    if ((hi[i] & 0x7f80) == 0x7f80) job.non_finite->store(true, std::memory_order_relaxed);
  const size_t moment = static_cast<size_t>(store.moment_bytes());
  std::memset(static_cast<char*>(store.m(job.tensor)) + moment * static_cast<size_t>(begin), 0, moment * n);
  std::memset(static_cast<char*>(store.v(job.tensor)) + moment * static_cast<size_t>(begin), 0, moment * n);
  // 8-bit moments' scales: blocks [ceil(begin / B), ceil(end / B)), so the
  // jobs of one tensor zero disjoint blocks that together cover all.
  if (float* m_scale = store.m_scale(job.tensor)) {
    const int64_t first = moment_blocks(begin), last = moment_blocks(end);
    std::fill(m_scale + first, m_scale + last, 0.0f);
    std::fill(store.v_scale(job.tensor) + first, store.v_scale(job.tensor) + last, 0.0f);
  }
}

// Weights the model has no place for mean the config does not describe them
// (a Qwen3 checkpoint read as Qwen2 would drop its q/k norms): refused, not
// skipped. Two kinds are benign: rotary tables that old exports saved, and a
// tied lm_head that some exports store beside the embedding.
void refuse_unused_tensors(const frontend::WeightFiles& files, const runtime::HostStore& store) {
  std::vector<std::string> unused;
  for (const std::string& name : files.names()) {
    if (store.find_tensor(name) >= 0) continue;
    if (name.ends_with("rotary_emb.inv_freq") || name == "lm_head.weight") continue;
    unused.push_back(name);
  }
  if (unused.empty()) return;
  std::string examples;
  for (size_t i = 0; i < unused.size() && i < 3; ++i) examples += (i ? ", " : "") + unused[i];
  const auto where = files.find(unused[0]);
  throw_user_error(files.index().empty() ? files.shard_path(where->shard) : files.index(), unused[0],
                   "the weights hold " + std::to_string(unused.size()) + " tensor(s) this model does not have (" +
                       examples + (unused.size() > 3 ? ", ..." : "") + ")",
                   "the config does not describe these weights; check config.json (architecture, layers, tied "
                   "embeddings) against them");
}

std::string byte_text(int64_t bytes) {
  char out[32];
  if (bytes >= 1'000'000'000)
    std::snprintf(out, sizeof out, "%.2f GB", static_cast<double>(bytes) / 1e9);
  else
    std::snprintf(out, sizeof out, "%.1f MB", static_cast<double>(bytes) / 1e6);
  return out;
}

}  // namespace

std::string WeightLoadReport::summary(const std::string& verb) const {
  std::string types;
  for (const std::string& d : dtypes) {
    std::string lower = d;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    types += (types.empty() ? "" : "+") + lower;
  }
  char rate[96];
  std::snprintf(rate, sizeof rate, "%s from %d shard%s in %.2f s, %.2f GB/s", byte_text(bytes).c_str(), shards,
                shards == 1 ? "" : "s", seconds, seconds > 0 ? static_cast<double>(bytes) / seconds / 1e9 : 0.0);
  return verb + " " + source + ": " + std::to_string(tensors) + " tensors, " + types + " (" + rate + ")";
}

WeightLoadReport load_weight_files(frontend::WeightFiles& files, runtime::HostStore& store, runtime::ThreadPool& pool) {
  const auto start = std::chrono::steady_clock::now();
  WeightLoadReport report;
  report.source = files.source();
  report.shards = static_cast<int>(files.shard_count());
  // Everything is checked before the first byte is converted, so a bad file
  // never leaves the store half loaded.
  std::vector<std::vector<Job>> per_shard(files.shard_count());
  std::vector<std::atomic<bool>> non_finite(store.tensors().size());
  for (size_t t = 0; t < store.tensors().size(); ++t) {
    const runtime::StoredTensor& st = store.tensors()[t];
    const auto where = files.find(st.name);
    if (!where)
      throw_user_error(
          files.index().empty() ? files.shard_path(0) : files.index(), st.name,
          "the weights have no tensor of this name (they have " + std::to_string(files.names().size()) + " tensors)",
          "use weights of this model, with Hugging Face names");
    const frontend::SafetensorsEntry& e = *where->entry;
    const std::string& file = files.shard_path(where->shard);
    if (e.shape != st.shape)
      throw_user_error(file, st.name,
                       "shape " + shape_text(e.shape) + " does not match the model's " + shape_text(st.shape),
                       "use weights of the same model shape (check config.json against the weights)");
    if (e.dtype != "BF16" && e.dtype != "F16" && e.dtype != "F32")
      throw_user_error(file, st.name, "dtype " + e.dtype + " cannot be loaded as a weight",
                       "convert the weights to bf16, fp16 or fp32");
    per_shard[static_cast<size_t>(where->shard)].push_back({static_cast<int>(t),
                                                            files.shard(where->shard).bytes(st.name).data(), e.dtype, 0,
                                                            st.elements, &non_finite[t]});
    report.dtypes.insert(e.dtype);
    report.bytes += static_cast<int64_t>(e.end - e.begin);
    ++report.tensors;
  }
  refuse_unused_tensors(files, store);
  if (files.shard_count() > 0) files.shard(0).prefetch();
  for (size_t s = 0; s < per_shard.size(); ++s) {
    if (s + 1 < per_shard.size()) files.shard(static_cast<int>(s + 1)).prefetch();  // its disk reads overlap this shard
    std::vector<Job>& jobs = per_shard[s];
    int64_t total = 0;
    for (Job& j : jobs) {
      j.first = total;
      total += j.elements;
    }
    pool.parallel_for(total, 1 << 16, [&](int64_t begin, int64_t end) {
      auto it = std::upper_bound(jobs.begin(), jobs.end(), begin, [](int64_t x, const Job& j) { return x < j.first; });
      for (--it; begin < end; ++it) {
        const int64_t stop = std::min(end, it->first + it->elements);
        if (stop > begin) convert(*it, begin - it->first, stop - it->first, store);
        begin = stop;
      }
    });
    for (const Job& j : jobs)
      if (j.non_finite->load())
        throw_user_error(files.shard_path(static_cast<int>(s)), store.tensors()[static_cast<size_t>(j.tensor)].name,
                         "holds Inf or NaN values; training would start from non-finite weights",
                         "start from finite weights (an earlier checkpoint, or --init random)");
    files.release(static_cast<int>(s));
  }
  store.set_step(0);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

WeightLoadReport load_model_weights(const std::string& path, runtime::HostStore& store, runtime::ThreadPool& pool) {
  frontend::WeightFiles files = frontend::WeightFiles::open(path);
  return load_weight_files(files, store, pool);
}

}  // namespace horizon::cli
