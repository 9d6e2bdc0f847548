// The packed sampler's invariants: across an epoch every document's tokens
// are inputs exactly once and every trained prediction occurs once; positions
// restart at each document; segments increase along a row; long documents
// split or drop; shuffles are fixed by the seed; a saved data position
// resumes exactly and refuses other data. Also the split by documents.
#include <gtest/gtest.h>

#include <map>
#include <numeric>

#include "data/packed_sampler.h"
#include "tests/test_support.h"

using namespace horizon;
using namespace horizon::data;
using horizon::testing::expect_user_error;

namespace {

/// Documents of varied lengths; token values encode (document, index) so a
/// test can tell where each input came from. Every third token carries no loss.
std::shared_ptr<DocumentSet> documents(int count, int max_length) {
  auto d = std::make_shared<DocumentSet>();
  for (int doc = 0; doc < count; ++doc) {
    const int length = 1 + (doc * 37) % max_length;
    std::vector<int32_t> tokens(length);
    std::vector<uint8_t> loss(length);
    for (int i = 0; i < length; ++i) {
      tokens[i] = 1 + doc * 1000 + i;  // never 0, the padding token
      loss[i] = i % 3 != 2;
    }
    d->add(tokens, loss);
  }
  return d;
}

struct Seen {
  std::map<int32_t, int> inputs;       // token -> times it was an input
  std::map<int32_t, int> predictions;  // target token -> times it was trained
};

void check_row_structure(const Batch& b) {
  for (int64_t r = 0; r < b.batch; ++r) {
    for (int64_t i = 0; i < b.seq; ++i) {
      const int64_t at = r * b.seq + i;
      if (i == 0) {
        EXPECT_EQ(b.segments[at], 0);
        EXPECT_EQ(b.positions[at], 0);
        continue;
      }
      const bool same = b.segments[at] == b.segments[at - 1];
      EXPECT_TRUE(same || b.segments[at] == b.segments[at - 1] + 1) << "segments increase by one";
      EXPECT_EQ(b.positions[at], same ? b.positions[at - 1] + 1 : 0) << "positions restart per document";
    }
  }
}

}  // namespace

TEST(DataPacking, EveryTokenOnceAndEveryTrainedPredictionOncePerEpoch) {
  auto docs = documents(60, 50);
  for (LongDocs mode : {LongDocs::split, LongDocs::drop}) {
    PackedSampler s(docs, 3, 16, 7, mode);
    std::map<int32_t, int> inputs, predictions;
    while (s.state().epoch == 0) {
      Batch b = s.next();
      check_row_structure(b);
      for (size_t i = 0; i < b.tokens.size(); ++i) {
        const bool padding = b.tokens[i] == 0;
        if (!padding) ++inputs[b.tokens[i]];
        if (b.targets[i] >= 0) {
          ++predictions[b.targets[i]];
          EXPECT_EQ(b.targets[i], b.tokens[i] + 1) << "a target is the next token of the same document";
        }
      }
    }
    // The last batch ran into epoch 1; count only what belongs to epoch 0 by checking minimums.
    for (int64_t doc = 0; doc < docs->size(); ++doc) {
      const bool kept = mode == LongDocs::split || docs->length(doc) <= 16;
      for (int64_t i = 0; i < docs->length(doc); ++i) {
        const int32_t t = static_cast<int32_t>(1 + doc * 1000 + i);
        if (!kept) {
          EXPECT_EQ(inputs.count(t), 0u) << "dropped document " << doc;
          continue;
        }
        EXPECT_GE(inputs[t], 1) << "token " << i << " of document " << doc << " never an input";
        EXPECT_LE(inputs[t], 2) << "more than once per epoch (the second from epoch 1)";
        const bool trained = i > 0 && i % 3 != 2;
        if (!trained) {
          EXPECT_EQ(predictions.count(t), 0u) << "a no-loss token was trained";
        } else {
          EXPECT_GE(predictions[t], 1) << "a trained token was never predicted";
          EXPECT_LE(predictions[t], 2);
        }
      }
    }
    EXPECT_GT(mode == LongDocs::drop ? s.dropped_documents() : s.split_documents(), 0);
  }
}

TEST(DataPacking, ExactlyOnceOverAWholeEpochWithoutShuffle) {
  // Unshuffled, rows take documents in order; gathering exactly one epoch of
  // rows must give back every document's tokens once.
  auto docs = documents(20, 30);
  PackedSampler s(docs, 1, 10, 1, LongDocs::split, /*shuffle=*/false);
  std::vector<int32_t> inputs;
  DataPosition p = s.state();
  while (p.epoch == 0) {
    Batch b = s.next();
    p = s.state();
    for (size_t i = 0; i < b.tokens.size(); ++i)
      if (b.tokens[i] != 0) inputs.push_back(b.tokens[i]);
  }
  std::vector<int32_t> expected = docs->all_tokens();
  inputs.resize(std::min(inputs.size(), expected.size() + 10));
  // The final row may start epoch 1: compare the epoch-0 prefix.
  ASSERT_GE(inputs.size(), expected.size());
  inputs.resize(expected.size());
  EXPECT_EQ(inputs, expected);
}

TEST(DataPacking, SeedFixesTheOrder) {
  auto docs = documents(40, 20);
  PackedSampler a(docs, 2, 32, 5, LongDocs::split), b(docs, 2, 32, 5, LongDocs::split),
      c(docs, 2, 32, 6, LongDocs::split);
  bool differs = false;
  for (int i = 0; i < 10; ++i) {
    Batch x = a.next(), y = b.next(), z = c.next();
    EXPECT_EQ(x.tokens, y.tokens);
    EXPECT_EQ(x.targets, y.targets);
    EXPECT_EQ(x.segments, y.segments);
    differs |= x.tokens != z.tokens;
  }
  EXPECT_TRUE(differs);
}

TEST(DataPacking, ResumeContinuesExactlyAndRefusesOtherData) {
  auto docs = documents(50, 40);
  PackedSampler first(docs, 2, 24, 3, LongDocs::split);
  for (int i = 0; i < 37; ++i) first.next();  // past the first epoch, mid-document
  const DataPosition saved = first.state();
  const DataPosition restored = DataPosition::from_json(frontend::Json::parse(saved.to_json().dump()), "state.json");
  EXPECT_EQ(restored, saved);
  PackedSampler resumed(docs, 2, 24, 3, LongDocs::split);
  resumed.set_state(restored);
  for (int i = 0; i < 20; ++i) {
    Batch x = first.next(), y = resumed.next();
    ASSERT_EQ(x.tokens, y.tokens) << "batch " << i << " after resume";
    ASSERT_EQ(x.targets, y.targets);
    ASSERT_EQ(x.positions, y.positions);
  }
  PackedSampler other_seed(docs, 2, 24, 4, LongDocs::split);
  expect_user_error([&] { other_seed.set_state(saved); }, {"--seed 3"});
  PackedSampler other_data(documents(51, 40), 2, 24, 3, LongDocs::split);
  expect_user_error([&] { other_data.set_state(saved); }, {"other data"});
  expect_user_error([] { DataPosition::from_json(frontend::Json::parse(R"({"sampler": "packed"})"), "s.json"); },
                    {"s.json", "seed"});
}

TEST(DataPacking, StepsForEpochsMatchesTheSampler) {
  auto docs = documents(33, 25);
  PackedSampler s(docs, 4, 20, 9, LongDocs::split);
  const int64_t steps = s.steps_for_epochs(2);
  for (int64_t i = 0; i < steps - 1; ++i) s.next();
  EXPECT_LT(s.state().epoch, 2) << "two epochs must not be over before the last step";
  s.next();
  const DataPosition p = s.state();
  EXPECT_TRUE(p.epoch == 2 || (p.epoch == 1 && p.index == s.documents())) << p.to_json().dump();
}

TEST(DataPacking, ValidationBatchesAreFixedAndUnshuffled) {
  auto docs = documents(10, 12);
  PackedSampler s(docs, 2, 16, 1, LongDocs::split, false);
  std::vector<Batch> a = s.validation_batches(3), b = s.validation_batches(3);
  ASSERT_EQ(a.size(), 3u);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].tokens, b[i].tokens);
  EXPECT_EQ(a[0].tokens[0], 1);  // document 0 first
}

TEST(DataPacking, SplitByWholeDocuments) {
  auto docs = documents(100, 30);
  DocumentSet train, val;
  DocumentSet::split(*docs, 0.1, 1, train, val);
  EXPECT_EQ(val.size(), 10);
  EXPECT_EQ(train.size() + val.size(), docs->size());
  EXPECT_EQ(train.token_count() + val.token_count(), docs->token_count());
  // Each validation document is a whole document of the data, not a piece of one.
  std::map<int32_t, int64_t> length_of;
  for (int64_t d = 0; d < docs->size(); ++d) length_of[docs->tokens(d)[0]] = docs->length(d);
  for (int64_t d = 0; d < val.size(); ++d) EXPECT_EQ(val.length(d), length_of[val.tokens(d)[0]]);
  DocumentSet train2, val2;
  DocumentSet::split(*docs, 0.1, 1, train2, val2);
  EXPECT_EQ(val.all_tokens(), val2.all_tokens());
  auto long_only = std::make_shared<DocumentSet>();
  long_only->add(std::vector<int32_t>(9, 5), std::vector<uint8_t>(9, 1));
  expect_user_error([&] { PackedSampler(long_only, 1, 4, 1, LongDocs::drop); }, {"--long-docs"});
}

TEST(DataPacking, TrainResumedOnPackedJsonlEndsWithTheBytesOfOneRun) {
  // `horizon train` on JSONL: a run resumed from its step-2 checkpoint ends
  // with the same weights as the run that went straight to step 4, so the
  // packed sampler continued at the exact data position.
  horizon::testing::TempDir dir;
  std::string rows;
  for (int i = 0; i < 30; ++i)
    rows +=
        "{\"prompt\": \"" + std::to_string(i) + " plus 7 is\", \"completion\": \" " + std::to_string(i + 7) + "\"}\n";
  const std::string common = horizon::testing::source_path("models/tiny.json") + " --data " +
                             dir.write("d.jsonl", rows) + " --batch 2 --seq 24 --steps 4 --save-every 2 " +
                             "--eval-batches 0 --cache-dir none --device cpu";
  const std::string uncut = dir / "uncut", other = dir / "other";
  auto a = horizon::testing::run_horizon("train " + common + " --save " + uncut);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  auto b = horizon::testing::run_horizon("train " + common + " --resume " + uncut + "/checkpoint-2 --save " + other);
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_TRUE(horizon::testing::read_file(uncut + "/checkpoint-4/model.safetensors") ==
              horizon::testing::read_file(other + "/checkpoint-4/model.safetensors"));
}
