// Splitting files into work units, tokenizing them on a thread pool, and
// merging the examples back in file order.
#include "data/document_loader.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <optional>
#include <thread>

#include "data/token_file.h"
#include "support/error.h"

namespace horizon::data {
namespace {

struct Unit {
  std::string_view text;
  std::string where;  // FILE or FILE:LINE
  bool jsonl = false;
};

struct Outcome {
  Example example;
  std::optional<Example> rejected;  // preference rows: example is the chosen sequence
  std::string error;                // a UserError's message
  std::exception_ptr bug;
};

Outcome run_unit(const Unit& u, const LoadOptions& o) {
  Outcome out;
  try {
    if (u.jsonl && o.preference) {
      PreferencePair pair = build_preference_pair(parse_preference_row(u.text, u.where, o.fields), o.example, u.where);
      out.example = std::move(pair.chosen);
      out.rejected = std::move(pair.rejected);
    } else if (u.jsonl)
      out.example = build_row_example(parse_jsonl_row(u.text, u.where, o.fields), o.example, u.where);
    else
      out.example = build_text_example(u.text, o.example);
  } catch (const UserError& e) {
    out.error = e.what();
  } catch (...) {
    out.bug = std::current_exception();
  }
  return out;
}

void split_lines(const std::string& path, std::string_view text, std::vector<Unit>& units) {
  size_t start = 0;
  for (int64_t line = 1; start < text.size(); ++line) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view row = text.substr(start, end - start);
    if (!row.empty() && row.back() == '\r') row.remove_suffix(1);
    if (row.find_first_not_of(" \t") != std::string_view::npos)
      units.push_back({row, path + ":" + std::to_string(line), true});
    start = end + 1;
  }
}

}  // namespace

DocumentSet load_documents(const std::vector<DataFile>& files, const LoadOptions& o, DataStats& stats) {
  DocumentSet out;
  std::vector<std::string> contents;
  contents.reserve(files.size());
  std::vector<Unit> units;
  std::vector<std::pair<size_t, DocumentSet>> stored;  // version-2 token files, placed before unit index
  for (const DataFile& f : files) {
    ++stats.files;
    if (f.format != DataFormat::jsonl && o.preference)
      throw_user_error(f.path, "", "preference data must be JSONL rows with prompt, chosen and rejected",
                       "convert it to JSONL (one {\"prompt\", \"chosen\", \"rejected\"} object a line)");
    if (f.format == DataFormat::token_file) {
      TokenFile t = read_token_file(f.path);
      if (t.version == 1)
        throw_user_error(f.path, "", "a version-1 token file is one token stream without documents",
                         "pass it alone as --data (it is sampled by random windows), or regenerate it as JSONL/text");
      if (t.vocab > o.example.tokenizer->vocab_size())
        throw_user_error(f.path, "vocab",
                         "the file's vocab " + std::to_string(t.vocab) +
                             " is larger than the "
                             "tokenizer's " +
                             std::to_string(o.example.tokenizer->vocab_size()),
                         "use token files made with this model's tokenizer");
      stored.emplace_back(units.size(),
                          DocumentSet::from_flat(std::move(t.tokens), std::move(t.loss), std::move(t.document_ends)));
      continue;
    }
    contents.push_back(read_data_file(f.path));
    const std::string& text = contents.back();
    if (f.format == DataFormat::jsonl)
      split_lines(f.path, text, units);
    else if (!text.empty())
      units.push_back({text, f.path, false});
  }
  stats.rows += static_cast<int64_t>(units.size());

  std::vector<Outcome> outcomes(units.size());
  std::atomic<size_t> next{0}, done{0};
  auto worker = [&] {
    for (size_t i; (i = next.fetch_add(1)) < units.size();) {
      outcomes[i] = run_unit(units[i], o);
      done.fetch_add(1);
    }
  };
  int threads = o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads = static_cast<int>(std::min<size_t>(static_cast<size_t>(threads), std::max<size_t>(1, units.size())));
  std::vector<std::thread> pool;
  if (threads == 1) {
    worker();
  } else {
    // Every core tokenizes; this thread only reports progress.
    for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
    while (done.load() < units.size()) {
      if (o.progress) o.progress(static_cast<int64_t>(done.load()), static_cast<int64_t>(units.size()));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  for (std::thread& t : pool) t.join();
  if (o.progress) o.progress(static_cast<int64_t>(units.size()), static_cast<int64_t>(units.size()));

  size_t next_stored = 0;
  auto add_stored_before = [&](size_t unit) {
    for (; next_stored < stored.size() && stored[next_stored].first <= unit; ++next_stored) {
      const DocumentSet& s = stored[next_stored].second;
      for (int64_t d = 0; d < s.size(); ++d) out.add(s.tokens(d), s.loss(d));
    }
  };
  for (size_t i = 0; i < outcomes.size(); ++i) {
    add_stored_before(i);
    Outcome& r = outcomes[i];
    if (r.bug) std::rethrow_exception(r.bug);
    if (!r.error.empty()) {
      if (!o.skip_bad_rows) throw UserError(r.error + " (--skip-bad-rows skips such rows and counts them)");
      if (stats.bad_rows++ == 0) stats.first_bad_row = r.error;
      continue;
    }
    stats.straddling_boundaries += r.example.straddling;
    if (r.example.tokens.empty()) {
      ++stats.empty_documents;
      continue;
    }
    if (std::count(r.example.loss.begin() + 1, r.example.loss.end(), uint8_t{1}) == 0) ++stats.documents_without_loss;
    out.add(r.example.tokens, r.example.loss);
    if (r.rejected) out.add(r.rejected->tokens, r.rejected->loss);
  }
  add_stored_before(units.size());
  if (out.size() == 0)
    throw UserError("--data: no document to train on (" + std::to_string(stats.rows) + " rows, " +
                    std::to_string(stats.bad_rows) + " skipped as bad, " + std::to_string(stats.empty_documents) +
                    " empty)");
  return out;
}

}  // namespace horizon::data
