// The data side of `horizon train` and `horizon data`: the --data family of
// options, the model's tokenizer and chat template, the token cache, and the
// samplers that turn documents into batches. Two samplers: packed documents
// (JSONL, version-2 token files, or --sampler packed: every file or row one
// document, rows with document boundaries) and random windows of one token
// stream (a version-1 token file or plain text, as before packing existed).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "data/batch_sampler.h"
#include "data/document_set.h"
#include "data/packed_sampler.h"
#include "data/tokenizer.h"
#include "ir/module.h"

namespace horizon::cli {

class Arguments;

/// Declares --data (comma-separated files and folders), --val-data, --val-fraction, --text-field,
/// --messages-field, --loss-on, --skip-bad-rows, --long-docs, --epochs, --sampler, --chat-template,
/// --tokenizer, --cache-dir.
void add_data_options(Arguments& a);

/// Tokenized documents of one --data spec, with what it took to make them.
struct LoadedDocuments {
  std::shared_ptr<const data::DocumentSet> documents;
  data::DataStats stats;
  std::string cache_note;            // "token cache hit: PATH" / "tokenized N rows in Xs; cached at PATH"
  std::string cache_dir, cache_key;  // empty without a token cache
};

/// Whether --data is preference pairs for DPO: --objective dpo, or --objective
/// auto and the first JSONL row has "chosen" and "rejected".
bool uses_preference_data(const Arguments& a, const std::string& spec);

/// The model's tokenizer (--tokenizer, else the model's own: cli/model_tokenizer.h), its chat template
/// (--chat-template, else the model directory's) and the template's special-token globals.
struct DataContext {
  std::unique_ptr<data::Tokenizer> tokenizer;
  std::string tokenizer_identity;  // bytes that name it in the cache key
  std::string tokenizer_name;      // for the screen
  std::string template_source, template_origin;
  std::function<std::string(const frontend::Json&)> render;
  frontend::Json globals;
};
DataContext data_context(const Arguments& a, const std::string& model_path, const ir::Module& model);

/// Loads `spec` (through the token cache unless --cache-dir none); prints a progress bar on a terminal.
LoadedDocuments load_documents_cached(const Arguments& a, const DataContext& context, const std::string& spec,
                                      int64_t vocab);

/// Batches for training and validation, whichever sampler the data calls for.
struct TrainData {
  std::string summary;  // what was loaded and which sampler runs, for the screen (may span lines)
  std::function<data::Batch()> next;
  std::function<std::vector<data::Batch>(int64_t n)> validation;  // empty: no validation data
  std::function<data::DataPosition()> position;
  std::function<void(const data::DataPosition&)> set_position;
  std::function<int64_t(int64_t epochs)> steps_for_epochs;  // empty for random windows (no epochs)
  int64_t train_tokens = 0, validation_tokens = 0;
  bool packed = false;  // rows hold several documents: the model must be lowered for packed documents
  // DPO: batches are chosen/rejected pairs (Batch::documents names each
  // row's document); reference_batches visits every kept pair once.
  bool preference = false;
  std::function<std::vector<data::Batch>()> reference_batches;
  int64_t documents = 0;
  std::string cache_dir, cache_key;  // where the reference log-probabilities are cached (empty: not cached)
};
TrainData build_train_data(const Arguments& a, const std::string& model_path, const ir::Module& model, int64_t batch,
                           int64_t seq, uint64_t seed);

}  // namespace horizon::cli
