// Options to samplers: tokenizer and template lookup, cached loading, the sampler choice.
#include "cli/train_data.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "cli/arguments.h"
#include "cli/model_tokenizer.h"
#include "data/byte_tokenizer.h"
#include "data/chat_template.h"
#include "data/data_files.h"
#include "data/document_loader.h"
#include "data/model_chat_template.h"
#include "data/preference_sampler.h"
#include "data/token_cache.h"
#include "data/token_dataset.h"
#include "data/token_file.h"
#include "frontend/model_dir.h"
#include "support/error.h"
#include "support/numbers.h"

namespace horizon::cli {
namespace fs = std::filesystem;
namespace {

std::string read_if_exists(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec) ? frontend::read_text_file(path) : std::string();
}

std::string model_folder(const std::string& model_path) {
  std::error_code ec;
  if (fs::is_directory(model_path, ec)) return model_path;
  fs::path parent = fs::path(model_path).parent_path();
  return parent.empty() ? "." : parent.string();
}

/// A terminal line redrawn in place while rows are tokenized; nothing in logs.
std::function<void(int64_t, int64_t)> progress_bar() {
  if (!isatty(STDERR_FILENO)) return {};
  return [](int64_t done, int64_t total) {
    const int width = 30;
    const int filled = total > 0 ? static_cast<int>(width * done / total) : width;
    std::fprintf(stderr, "\rtokenizing [%s%s] %s/%s rows", std::string(filled, '#').c_str(),
                 std::string(width - filled, ' ').c_str(), format_count(done).c_str(), format_count(total).c_str());
    if (done == total) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  };
}

/// The chat template parsed on first use, so a model whose template does not
/// parse can still train on text rows; the parse error reaches the first chat row.
struct LazyTemplate {
  std::string source, origin;
  std::once_flag once;
  std::unique_ptr<data::ChatTemplate> parsed;
  std::string error;
  std::string render(const frontend::Json& variables) {
    std::call_once(once, [&] {
      try {
        parsed = std::make_unique<data::ChatTemplate>(data::ChatTemplate::parse(source, origin));
      } catch (const UserError& e) {
        error = e.what();
      }
    });
    if (!parsed) throw UserError(error);
    return parsed->render(variables);
  }
};

std::string percent(int64_t part, int64_t whole) {
  char b[16];
  std::snprintf(b, sizeof(b), "%.0f%%",
                whole > 0 ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0);
  return b;
}

std::string describe(const std::string& spec, const LoadedDocuments& l) {
  const data::DataStats& s = l.stats;
  const data::DocumentSet& d = *l.documents;
  std::string out = "data " + spec + ": " + format_count(s.files) + " file(s), " + format_count(s.rows) + " rows -> " +
                    format_count(d.size()) + " documents, " + format_count(d.token_count()) + " tokens (" +
                    percent(d.loss_token_count(), d.token_count()) + " carry loss)";
  if (s.bad_rows) out += "\n  skipped " + format_count(s.bad_rows) + " bad rows; the first: " + s.first_bad_row;
  if (s.empty_documents) out += "\n  " + format_count(s.empty_documents) + " rows rendered to no tokens";
  if (s.documents_without_loss)
    out += "\n  " + format_count(s.documents_without_loss) + " documents have no token that carries loss";
  if (s.straddling_boundaries)
    out += "\n  " + format_count(s.straddling_boundaries) +
           " loss-span edges fall inside a token (those tokens carry loss; `horizon data --show` shows them)";
  if (!l.cache_note.empty()) out += "\n  " + l.cache_note;
  return out;
}

}  // namespace

void add_data_options(Arguments& a) {
  a.option("data", "PATHS",
           "training data, files or folders joined by commas: JSONL (.jsonl, .jsonl.gz) with {\"text\"},\n"
           "{\"prompt\",\"completion\"} or {\"messages\"} rows, text files (each one document), or token files");
  a.option("val-data", "PATHS", "validation data (same formats); default: --val-fraction of the documents");
  a.option("val-fraction", "F", "fraction of the documents (of the tokens, for a raw stream) held out", "0.05");
  a.option("text-field", "NAME", "JSONL field holding plain text", "text");
  a.option("messages-field", "NAME", "JSONL field holding a conversation", "messages");
  a.option("loss-on", "WHAT",
           "completion (alias assistant): loss only on completions / assistant turns (+ EOS); all: every token",
           "completion");
  a.flag("skip-bad-rows", "skip JSONL rows that do not parse (counted and reported) instead of stopping");
  a.option("long-docs", "HOW", "documents longer than --seq: split (into consecutive rows) or drop (counted)", "split");
  a.option("epochs", "N", "train N passes over the documents (sets --steps; packed sampler)");
  a.option("sampler", "KIND",
           "packed (documents with boundaries) | windows (random windows of one stream) | auto (windows for a\n"
           "raw token file or plain text, packed for JSONL)",
           "auto");
  a.option("objective", "KIND",
           "lm (next-token loss) | dpo (preference pairs: JSONL rows with prompt or messages, chosen and rejected)\n"
           "| auto (dpo when the first JSONL row has chosen and rejected)",
           "auto");
  a.option("chat-template", "FILE", "Jinja chat template (default: the model's chat_template)");
  a.option("tokenizer", "PATH", "tokenizer.json or its folder (default: beside MODEL, else byte-level)");
  a.option("cache-dir", "DIR", "token cache folder, or none (default: ~/.cache/horizon/tokens)");
}

DataContext data_context(const Arguments& a, const std::string& model_path, const ir::Module& model) {
  DataContext c;
  const int64_t vocab = static_cast<int64_t>(model.config_number("vocab", 256));
  std::error_code ec;
  std::string dir;  // where the tokenizer files (and the chat template) are
  if (a.has("tokenizer")) {
    const std::string path = a.get("tokenizer");
    dir = fs::is_directory(path, ec) ? path : model_folder(path);
    c.tokenizer = data::load_hf_tokenizer(path);
    if (c.tokenizer->vocab_size() > vocab)
      throw UserError("--tokenizer " + path + " has " + std::to_string(c.tokenizer->vocab_size()) +
                      " tokens but the model's vocab is " + std::to_string(vocab) + "; use the model's own tokenizer");
  } else {
    c.tokenizer = model_tokenizer(model_path, model, "text data");
    if (std::optional<frontend::ModelDir> d = frontend::model_dir_of(model_path); d && !d->tokenizer_json().empty())
      dir = d->dir;
  }
  if (dir.empty()) {
    c.tokenizer_identity = "byte-level";
    c.tokenizer_name = "byte-level";
  } else {
    for (const std::string& name : frontend::tokenizer_file_names())
      c.tokenizer_identity += name + "\n" + read_if_exists(dir + "/" + name) + "\n";
    c.tokenizer_name = dir + "/tokenizer.json";
    c.globals = data::special_token_globals(dir);
  }
  for (auto [name, id] : {std::pair{"bos_token", c.tokenizer->bos_id()}, std::pair{"eos_token", c.tokenizer->eos_id()}})
    if (!c.globals.contains(name) && id) c.globals[name] = c.tokenizer->decode(std::vector<int32_t>{*id});

  std::optional<data::ChatTemplateSource> source;
  if (a.has("chat-template"))
    source = data::read_chat_template_file(a.get("chat-template"));
  else if (!dir.empty())
    source = data::find_chat_template(dir);
  if (source) {
    c.template_source = source->source;
    c.template_origin = source->origin;
    auto lazy = std::make_shared<LazyTemplate>();
    lazy->source = source->source;
    lazy->origin = source->origin;
    c.render = [lazy](const frontend::Json& v) { return lazy->render(v); };
  }
  return c;
}

bool uses_preference_data(const Arguments& a, const std::string& spec) {
  const std::string objective = a.get("objective");
  if (objective != "auto" && objective != "lm" && objective != "dpo")
    throw UserError("--objective must be lm, dpo or auto, got '" + objective + "'");
  if (objective != "auto") return objective == "dpo";
  for (const data::DataFile& f : data::list_data_files(spec)) {
    if (f.format != data::DataFormat::jsonl) continue;
    // The first row decides: a plain file is read only up to it (gzip whole).
    std::string text;
    if (std::ifstream in(f.path, std::ios::binary); in && in.peek() != 0x1f) {
      for (std::string line; std::getline(in, line);) {
        text += line + "\n";
        if (line.find_first_not_of(" \t\r") != std::string::npos) break;
      }
    } else {
      text = data::read_data_file(f.path);
    }
    for (size_t start = 0; start < text.size();) {
      size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      const std::string_view line(text.data() + start, end - start);
      if (line.find_first_not_of(" \t\r") != std::string_view::npos) return data::is_preference_row(line);
      start = end + 1;
    }
  }
  return false;
}

LoadedDocuments load_documents_cached(const Arguments& a, const DataContext& c, const std::string& spec,
                                      int64_t vocab) {
  data::LoadOptions o;
  o.example.tokenizer = c.tokenizer.get();
  o.example.render_chat = c.render;
  o.example.globals = c.globals;
  o.example.loss_on = data::parse_loss_on(a.get("loss-on"));
  o.fields.text = a.get("text-field");
  o.fields.messages = a.get("messages-field");
  o.skip_bad_rows = a.get_flag("skip-bad-rows");
  o.progress = progress_bar();
  o.preference = uses_preference_data(a, spec);
  const std::vector<data::DataFile> files = data::list_data_files(spec);

  std::string dir = a.has("cache-dir") ? a.get("cache-dir") : data::default_cache_dir();
  if (dir == "none") dir.clear();
  LoadedDocuments out;
  std::string key;
  if (!dir.empty()) {
    const std::string options = "text-field=" + o.fields.text + "\nmessages-field=" + o.fields.messages +
                                "\nloss-on=" + (o.example.loss_on == data::LossOn::all ? "all" : "completion") +
                                "\nskip-bad-rows=" + (o.skip_bad_rows ? "1" : "0") + "\nglobals=" + c.globals.dump() +
                                (o.preference ? "\nobjective=dpo" : "");
    key = data::cache_key({files, c.tokenizer_identity, c.template_source, options});
    out.cache_dir = dir;
    out.cache_key = key;
    if (auto cached = data::load_cached(dir, key, vocab, out.stats)) {
      out.documents = std::make_shared<data::DocumentSet>(std::move(*cached));
      out.cache_note = "token cache hit: " + dir + "/" + key + ".tokens";
      return out;
    }
  }
  const auto start = std::chrono::steady_clock::now();
  out.documents = std::make_shared<data::DocumentSet>(data::load_documents(files, o, out.stats));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  char took[64];
  std::snprintf(took, sizeof(took), "tokenized in %.2f s", seconds);
  out.cache_note = took;
  if (!dir.empty()) {
    try {
      out.cache_note += "; cached at " + data::store_cached(dir, key, *out.documents, vocab, out.stats);
    } catch (const UserError& e) {
      out.cache_note += std::string("; not cached: ") + e.what();  // a read-only home must not stop training
    }
  }
  return out;
}

TrainData build_train_data(const Arguments& a, const std::string& model_path, const ir::Module& model, int64_t batch,
                           int64_t seq, uint64_t seed) {
  const std::string spec = a.get("data");
  const int64_t vocab = static_cast<int64_t>(model.config_number("vocab", 256));
  const double val_fraction = a.get_double("val-fraction");
  if (!(val_fraction >= 0.0 && val_fraction < 1.0))
    throw UserError("--val-fraction must be in [0, 1), got " + a.get("val-fraction"));
  std::string kind = a.get("sampler");
  if (kind != "auto" && kind != "packed" && kind != "windows")
    throw UserError("--sampler must be auto, packed or windows, got '" + kind + "'");
  const std::vector<data::DataFile> files = data::list_data_files(spec);
  if (kind == "auto") {
    kind = "windows";
    for (const data::DataFile& f : files)
      if (f.format == data::DataFormat::jsonl ||
          (f.format == data::DataFormat::token_file && data::token_file_version(f.path) == 2))
        kind = "packed";
  }
  // The tokenizer only where text is tokenized: a token file trains a model that has none.
  std::shared_ptr<DataContext> shared_context;
  auto context = [&]() -> DataContext& {
    if (!shared_context) shared_context = std::make_shared<DataContext>(data_context(a, model_path, model));
    return *shared_context;
  };
  TrainData out;

  if (kind == "windows") {
    if (a.has("epochs")) throw UserError("--epochs counts passes over documents; it needs --sampler packed");
    // One stream: one raw path loads as before packing existed (documents joined by "\n"), several
    // paths are loaded as documents and joined end to end.
    std::string tokenizer_name = "none (token file)";
    auto stream = [&](const std::string& paths, double fraction) {
      const std::vector<std::string> parts = data::split_paths(paths);
      if (parts.size() == 1) {
        const bool tokens = data::is_token_file(parts[0]);
        if (!tokens) tokenizer_name = context().tokenizer_name;
        return std::make_shared<data::TokenDataset>(
            data::TokenDataset::load(parts[0], vocab, fraction, tokens ? nullptr : context().tokenizer.get()));
      }
      tokenizer_name = context().tokenizer_name;
      LoadedDocuments l = load_documents_cached(a, context(), paths, vocab);
      return std::make_shared<data::TokenDataset>(
          data::TokenDataset::from_tokens(l.documents->all_tokens(), vocab, fraction, paths));
    };
    auto train = stream(spec, a.has("val-data") ? 0.0 : val_fraction);
    auto val = a.has("val-data") ? stream(a.get("val-data"), 0.0) : train;
    const data::TokenSplit val_split = a.has("val-data") ? val->train() : train->validation();
    auto sampler = std::make_shared<data::BatchSampler>(train->train(), batch, seq, seed);
    out.train_tokens = static_cast<int64_t>(train->train().tokens.size());
    out.validation_tokens = static_cast<int64_t>(val_split.tokens.size());
    if (out.validation_tokens > seq) {
      auto validation = std::make_shared<data::BatchSampler>(val_split, batch, seq, seed + 1);
      out.validation = [validation, val](int64_t n) { return validation->validation_batches(n); };
    }
    out.next = [sampler, train] { return sampler->next(); };
    out.position = [sampler, seed, train] {
      data::DataPosition p;
      p.sampler = "windows";
      p.seed = seed;
      p.window_state = sampler->state();
      p.documents = static_cast<int64_t>(train->tokens().size());
      return p;
    };
    out.set_position = [sampler, train](const data::DataPosition& p) {
      if (p.sampler != "windows" || p.documents != static_cast<int64_t>(train->tokens().size()))
        throw UserError("the saved data position belongs to another sampler or data; resume with the same --data");
      sampler->set_state(p.window_state);
    };
    out.summary = "data " + spec + ": " + format_count(out.train_tokens) + " train, " +
                  format_count(out.validation_tokens) + " validation tokens (tokenizer " + tokenizer_name +
                  ")\nsampler: random windows of one token stream (seed " + std::to_string(seed) + ")";
    return out;
  }

  if (uses_preference_data(a, spec)) {
    if (a.has("val-data")) throw UserError("--val-data: DPO trains without validation for now; leave it out");
    if (a.has("epochs") && a.get_int("epochs") <= 0) throw UserError("--epochs must be positive");
    LoadedDocuments all = load_documents_cached(a, context(), spec, vocab);
    auto sampler = std::make_shared<data::PreferenceSampler>(all.documents, batch, seq, seed);
    out.preference = true;
    out.documents = all.documents->size();
    out.cache_dir = all.cache_dir;
    out.cache_key = all.cache_key;
    out.train_tokens = all.documents->token_count();
    out.next = [sampler] { return sampler->next(); };
    out.reference_batches = [sampler] { return sampler->all_batches(); };
    out.position = [sampler] { return sampler->state(); };
    out.set_position = [sampler](const data::DataPosition& p) { sampler->set_state(p); };
    out.steps_for_epochs = [sampler](int64_t epochs) { return sampler->steps_for_epochs(epochs); };
    out.summary = describe(spec, all) + "\nsampler: preference pairs (chosen and rejected in adjacent rows), " +
                  std::to_string(batch / 2) + " pairs per step | " + format_count(sampler->pairs()) + " pairs, " +
                  format_count(sampler->dropped_pairs()) + " longer than --seq left out | no validation | shuffled " +
                  "per epoch by seed " + std::to_string(seed) + " | tokenizer " + context().tokenizer_name;
    return out;
  }
  LoadedDocuments all = load_documents_cached(a, context(), spec, vocab);
  auto train_docs = std::make_shared<data::DocumentSet>();
  auto val_docs = std::make_shared<data::DocumentSet>();
  std::string summary = describe(spec, all);
  if (a.has("val-data")) {
    LoadedDocuments v = load_documents_cached(a, context(), a.get("val-data"), vocab);
    summary += "\n" + describe(a.get("val-data"), v);
    *train_docs = *all.documents;
    *val_docs = *v.documents;
  } else {
    data::DocumentSet::split(*all.documents, val_fraction, seed, *train_docs, *val_docs);
  }
  const data::LongDocs long_docs = data::parse_long_docs(a.get("long-docs"));
  auto sampler = std::make_shared<data::PackedSampler>(train_docs, batch, seq, seed, long_docs);
  if (val_docs->size() > 0) {
    auto validation = std::make_shared<data::PackedSampler>(val_docs, batch, seq, seed, data::LongDocs::split, false);
    out.validation = [validation](int64_t n) { return validation->validation_batches(n); };
  }
  out.train_tokens = train_docs->token_count();
  out.validation_tokens = val_docs->token_count();
  out.packed = true;
  out.next = [sampler] { return sampler->next(); };
  out.position = [sampler] { return sampler->state(); };
  out.set_position = [sampler](const data::DataPosition& p) { sampler->set_state(p); };
  out.steps_for_epochs = [sampler](int64_t epochs) { return sampler->steps_for_epochs(epochs); };
  summary += "\nsampler: packed documents, rows of " + std::to_string(seq) + " | " +
             format_count(sampler->documents()) + " train, " + format_count(val_docs->size()) +
             " validation documents | " + format_count(sampler->split_documents()) + " longer than --seq split, " +
             format_count(sampler->dropped_documents()) + " dropped | shuffled per epoch by seed " +
             std::to_string(seed) + " | tokenizer " + context().tokenizer_name;
  out.summary = summary;
  return out;
}

}  // namespace horizon::cli
