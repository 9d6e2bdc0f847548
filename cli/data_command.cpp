// `horizon data MODEL --data PATH --show N [--json]`: the first N examples as
// the model will see them — the text of their tokens with the spans that carry
// no loss marked, the token IDs with their loss bits — and the first training
// rows as the sampler packs them (documents, positions, padding). The check
// to run before spending GPU hours on a masking mistake.
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "cli/arguments.h"
#include "cli/commands.h"
#include "cli/train_data.h"
#include "data/preference_sampler.h"
#include "frontend/model_json.h"
#include "support/error.h"
#include "support/numbers.h"

namespace horizon::cli {
namespace {

Arguments data_arguments() {
  Arguments a("data", "horizon data MODEL --data PATHS [--show N] [--json]",
              "Loads PATHS as `horizon train` would and prints the first N examples as the model sees them:\n"
              "the text of the tokens with no-loss spans marked, token IDs with loss bits, and the packed rows.");
  a.positional("MODEL", "model file (models/*.json, a Hugging Face config.json) or model folder");
  add_data_options(a);
  a.option("show", "N", "examples (and packed rows) to print", "3");
  a.flag("json", "one JSON object per line: examples (text, ids, mask, document bounds), then packed rows");
  a.option("seq", "S", "tokens per row, as for train", "128");
  a.option("seed", "N", "shuffling seed, as for train", "1");
  return a;
}

struct Marks {
  const char *open, *close;
};

/// Tokens decoded run by run of equal loss bits; no-loss runs between marks.
std::string marked_text(const data::Tokenizer& tok, std::span<const int32_t> ids, std::span<const uint8_t> loss,
                        Marks m) {
  std::string out;
  for (size_t i = 0; i < ids.size();) {
    size_t j = i;
    while (j < ids.size() && loss[j] == loss[i]) ++j;
    std::string text = tok.decode(ids.subspan(i, j - i));
    out += loss[i] ? text : std::string(m.open) + text + m.close;
    i = j;
  }
  return out;
}

void print_example(const data::Tokenizer& tok, const data::DocumentSet& d, int64_t doc, Marks m) {
  std::span<const int32_t> ids = d.tokens(doc);
  std::span<const uint8_t> loss = d.loss(doc);
  std::printf("=== document %lld: tokens [%lld, %lld) of the data, %zu tokens, %lld carry loss\n",
              static_cast<long long>(doc), static_cast<long long>(d.begin(doc)),
              static_cast<long long>(d.begin(doc) + d.length(doc)), ids.size(),
              static_cast<long long>(std::count(loss.begin(), loss.end(), uint8_t{1})));
  std::printf("%s\n--- ids (id/loss bit):", marked_text(tok, ids, loss, m).c_str());
  for (size_t i = 0; i < ids.size(); ++i) std::printf(" %d/%d", ids[i], loss[i]);
  std::printf("\n");
}

frontend::Json example_json(const data::Tokenizer& tok, const data::DocumentSet& d, int64_t doc) {
  std::span<const int32_t> ids = d.tokens(doc);
  std::span<const uint8_t> loss = d.loss(doc);
  return frontend::Json{{"kind", "example"},
                        {"document", doc},
                        {"begin", d.begin(doc)},
                        {"end", d.begin(doc) + d.length(doc)},
                        {"text", tok.decode(ids)},
                        {"ids", std::vector<int32_t>(ids.begin(), ids.end())},
                        {"mask", std::vector<int>(loss.begin(), loss.end())}};
}

/// Runs of one segment in a packed row: length, first position, trained targets, padding or not.
frontend::Json row_json(const data::Batch& b, int64_t row) {
  frontend::Json segments = frontend::Json::array();
  const int64_t base = row * b.seq;
  for (int64_t i = 0; i < b.seq;) {
    int64_t j = i;
    int64_t trained = 0, zeros = 0;
    for (; j < b.seq && b.segments[base + j] == b.segments[base + i]; ++j) {
      trained += b.targets[base + j] >= 0;
      zeros += b.tokens[base + j] == 0;
    }
    // The sampler pads with token 0 and no loss: a run of those closing the row is padding.
    const bool padding = j == b.seq && trained == 0 && zeros == j - i;
    segments.push_back({{"segment", b.segments[base + i]},
                        {"padding", padding},
                        {"begin", i},
                        {"length", j - i},
                        {"first_position", b.positions[base + i]},
                        {"trained_targets", trained}});
    i = j;
  }
  return frontend::Json{{"kind", "row"}, {"row", row}, {"segments", segments}};
}

}  // namespace

int run_data(const Args& args) {
  Arguments a = data_arguments();
  if (!a.parse(args)) return 0;
  if (!a.has("data")) throw UserError("horizon data: missing --data PATHS; e.g. --data chat.jsonl");
  const int64_t show = a.get_int("show"), seq = a.get_int("seq");
  if (show < 0) throw UserError("horizon data: --show must be 0 or more, got " + a.get("show"));
  if (seq < 1) throw UserError("horizon data: --seq must be positive, got " + a.get("seq"));
  const bool json = a.get_flag("json");
  const ir::Module model = frontend::load_model(a.get("MODEL"));
  const int64_t vocab = static_cast<int64_t>(model.config_number("vocab", 256));

  DataContext context = data_context(a, a.get("MODEL"), model);
  LoadedDocuments loaded = load_documents_cached(a, context, a.get("data"), vocab);
  const data::DocumentSet& docs = *loaded.documents;
  const bool tty = isatty(STDOUT_FILENO) != 0;
  const Marks marks = tty ? Marks{"\033[2m", "\033[0m"} : Marks{"[[", "]]"};
  if (!json) {
    std::printf("%s documents, %s tokens, %s carry loss | tokenizer %s%s\n", format_count(docs.size()).c_str(),
                format_count(docs.token_count()).c_str(), format_count(docs.loss_token_count()).c_str(),
                context.tokenizer_name.c_str(),
                context.template_origin.empty() ? "" : (" | chat template " + context.template_origin).c_str());
    if (!loaded.cache_note.empty()) std::printf("%s\n", loaded.cache_note.c_str());
    if (loaded.stats.bad_rows)
      std::printf("skipped %lld bad rows; the first: %s\n", static_cast<long long>(loaded.stats.bad_rows),
                  loaded.stats.first_bad_row.c_str());
    std::printf("text that carries no loss is %s\n\n", tty ? "dim" : "between [[ and ]]");
  }
  // Preference data: documents 2k and 2k+1 are pair k's chosen and rejected sequences.
  const bool pairs = uses_preference_data(a, a.get("data"));
  for (int64_t doc = 0; doc < std::min(pairs ? 2 * show : show, docs.size()); ++doc) {
    const char* side = doc % 2 ? "rejected" : "chosen";
    if (json) {
      frontend::Json j = example_json(*context.tokenizer, docs, doc);
      if (pairs) {
        j["pair"] = doc / 2;
        j["side"] = side;
      }
      std::printf("%s\n", j.dump().c_str());
      continue;
    }
    if (pairs) std::printf("--- pair %lld, %s:\n", static_cast<long long>(doc / 2), side);
    print_example(*context.tokenizer, docs, doc, marks);
  }
  if (show == 0) return 0;
  if (pairs) {
    data::PreferenceSampler sampler(loaded.documents, 2, seq, static_cast<uint64_t>(a.get_int("seed")), false);
    if (!json)
      std::printf("\n%lld pairs fit --seq %lld (%lld longer are left out); training puts each pair's chosen and "
                  "rejected sequence in adjacent rows of one micro-batch, each from position 0, padded\n",
                  static_cast<long long>(sampler.pairs()), static_cast<long long>(seq),
                  static_cast<long long>(sampler.dropped_pairs()));
    return 0;
  }
  // The rows training starts with: the whole data, shuffled by --seed, packed to --seq.
  data::PackedSampler sampler(loaded.documents, std::max<int64_t>(show, 1), seq,
                              static_cast<uint64_t>(a.get_int("seed")), data::parse_long_docs(a.get("long-docs")));
  const data::Batch b = sampler.next();
  if (!json)
    std::printf("\n=== the first %lld packed rows of %lld tokens (seed %s; training holds out --val-fraction first)\n",
                static_cast<long long>(show), static_cast<long long>(seq), a.get("seed").c_str());
  for (int64_t r = 0; r < b.batch; ++r) {
    frontend::Json row = row_json(b, r);
    if (json) {
      std::printf("%s\n", row.dump().c_str());
      continue;
    }
    std::printf("row %lld", static_cast<long long>(r));
    for (const frontend::Json& s : row["segments"]) {
      const int64_t begin = s["begin"], length = s["length"];
      if (s["padding"].get<bool>()) {
        std::printf(" | padding: %lld tokens", static_cast<long long>(length));
        continue;
      }
      std::vector<int32_t> ids(b.tokens.begin() + r * seq + begin, b.tokens.begin() + r * seq + begin + length);
      std::string text = context.tokenizer->decode(ids);
      if (text.size() > 24) text = text.substr(0, 24) + "...";
      for (char& c : text)
        if (c == '\n' || c == '\t') c = ' ';
      std::printf(" | seg %d: %lld tokens from position %d, %lld trained \"%s\"", s["segment"].get<int>(),
                  static_cast<long long>(length), s["first_position"].get<int>(),
                  static_cast<long long>(s["trained_targets"].get<int64_t>()), text.c_str());
    }
    std::printf("\n");
  }
  return 0;
}

}  // namespace horizon::cli
