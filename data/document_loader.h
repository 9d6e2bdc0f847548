// From data files to tokenized documents with loss masks: every text file is
// one document, every JSONL row one example (data/example_builder.h), every
// version-2 token file its stored documents. Rows are tokenized on every core;
// the result and its order do not depend on the number of threads. A row that
// fails is an error naming FILE:LINE and the field, or with skip_bad_rows is
// counted (the first such error kept for the report).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "data/data_files.h"
#include "data/document_set.h"
#include "data/example_builder.h"
#include "data/jsonl_row.h"
#include "data/preference_pairs.h"

namespace horizon::data {

struct LoadOptions {
  ExampleOptions example;
  RowFields fields;
  bool skip_bad_rows = false;
  /// JSONL rows are preference pairs (data/preference_pairs.h): each row adds
  /// two documents, chosen then rejected, so pair k is documents 2k and 2k+1.
  bool preference = false;
  int threads = 0;  // 0: every core
  /// Called now and then from the calling thread while rows are tokenized.
  std::function<void(int64_t done, int64_t total)> progress;
};

/// UserError for a version-1 token file (one stream without documents: it is
/// sampled by random windows, alone), a bad row (unless skipped), or no
/// document at all.
DocumentSet load_documents(const std::vector<DataFile>& files, const LoadOptions& options, DataStats& stats);

}  // namespace horizon::data
