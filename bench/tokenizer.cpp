// bench_tokenizer: MB/s of HfTokenizer on a corpus, one thread and all cores
// (data::encode_batch), to compare with bench/tokenizer_node.js (the
// `tokenizers` library's Node binding, encodeBatch) on the same documents.
//
//   bench_tokenizer TOKENIZER FILE... [--repeat N] [--threads T]
// FILE is plain text (fortune files: documents separated by "%" lines; other
// text: one document per line) or .jsonl (the "text" of each line, e.g.
// tests/golden/tokenizers/qwen3.jsonl: mixed scripts). Besides wall-clock
// MB/s it prints MB per CPU second of the process, which a busy shared
// machine does not distort.
#include "data/tokenizer.h"

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "data/encode_batch.h"
#include "support/error.h"

namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::string> read_documents(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw horizon::UserError(path + ": cannot read");
  const bool jsonl = path.size() > 6 && path.substr(path.size() - 6) == ".jsonl";
  std::vector<std::string> docs;
  std::string doc;
  bool fortune = false;
  for (std::string line; std::getline(in, line);) {
    if (jsonl) {
      docs.push_back(nlohmann::json::parse(line)["text"].get<std::string>());
    } else if (line == "%") {
      fortune = true;
      if (!doc.empty()) docs.push_back(doc);
      doc.clear();
    } else {
      doc += line + "\n";
    }
  }
  if (!doc.empty()) docs.push_back(doc);
  if (!jsonl && !fortune) {  // plain text: one document per line
    docs.clear();
    std::ifstream again(path);
    for (std::string line; std::getline(again, line);) docs.push_back(line + "\n");
  }
  return docs;
}

double cpu_seconds() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: bench_tokenizer TOKENIZER FILE... [--repeat N] [--threads T]\n");
    return 1;
  }
  int repeat = 1;
  int threads = static_cast<int>(std::thread::hardware_concurrency());
  std::vector<std::string> files;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--repeat" && i + 1 < argc)
      repeat = std::atoi(argv[++i]);
    else if (arg == "--threads" && i + 1 < argc)
      threads = std::atoi(argv[++i]);
    else
      files.push_back(arg);
  }
  try {
    auto t0 = Clock::now();
    const auto tokenizer = horizon::data::load_hf_tokenizer(argv[1]);
    std::printf("tokenizer %s: loaded in %.2f s\n", argv[1], std::chrono::duration<double>(Clock::now() - t0).count());
    for (const std::string& file : files) {
      std::vector<std::string> docs;
      const std::vector<std::string> once = read_documents(file);
      for (int r = 0; r < repeat; ++r) docs.insert(docs.end(), once.begin(), once.end());
      double bytes = 0;
      for (const std::string& d : docs) bytes += static_cast<double>(d.size());
      size_t tokens = 0;
      for (const auto& ids : horizon::data::encode_batch(*tokenizer, once, false, 1)) tokens += ids.size();
      std::printf("%s: %zu documents, %.1f MB, %zu tokens\n", file.c_str(), docs.size(), bytes / 1e6,
                  tokens * static_cast<size_t>(repeat));
      for (int t : {1, threads}) {
        // Each run starts with cold per-thread word caches, as a fresh process would.
        t0 = Clock::now();
        const double cpu0 = cpu_seconds();
        horizon::data::encode_batch(*tokenizer, docs, false, t);
        const double wall = std::chrono::duration<double>(Clock::now() - t0).count(), cpu = cpu_seconds() - cpu0;
        std::printf("  %d thread%s: %.2f s, %.1f MB/s; %.2f CPU s, %.1f MB per CPU second\n", t, t == 1 ? " " : "s",
                    wall, bytes / 1e6 / wall, cpu, bytes / 1e6 / cpu);
      }
    }
  } catch (const horizon::UserError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
