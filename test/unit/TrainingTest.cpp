//===- TrainingTest.cpp - tailor-train's data, schedules and logs ---------===//

#include "tailor/Execution/Training.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/raw_ostream.h"
#include "gtest/gtest.h"

#include <algorithm>
#include <string>

using namespace mlir::tailor::train;

namespace {
std::string writeTemp(const std::string &text) {
  llvm::SmallString<128> path;
  EXPECT_FALSE(llvm::sys::fs::createTemporaryFile("train", "jsonl", path));
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  os << text;
  return std::string(path);
}

std::string errorOf(const std::string &text, int64_t vocab = 10,
                    llvm::StringRef tokenizer = "none") {
  std::string path = writeTemp(text);
  auto data = readJsonl(path, vocab, 64, tokenizer);
  llvm::sys::fs::remove(path);
  if (data)
    return "";
  std::string message = llvm::toString(data.takeError());
  return message.substr(message.find(':') + 1); // without the path
}
} // namespace

// transformers' get_linear_schedule_with_warmup and
// get_cosine_schedule_with_warmup (num_cycles 0.5).
TEST(Training, Schedules) {
  EXPECT_DOUBLE_EQ(scheduleFactor(Schedule::Linear, 0, 10, 100), 0.0);
  EXPECT_DOUBLE_EQ(scheduleFactor(Schedule::Linear, 5, 10, 100), 0.5);
  EXPECT_DOUBLE_EQ(scheduleFactor(Schedule::Linear, 10, 10, 100), 1.0);
  EXPECT_DOUBLE_EQ(scheduleFactor(Schedule::Linear, 55, 10, 100), 0.5);
  EXPECT_DOUBLE_EQ(scheduleFactor(Schedule::Linear, 100, 10, 100), 0.0);
  EXPECT_DOUBLE_EQ(scheduleFactor(Schedule::Linear, 0, 0, 4), 1.0);
  EXPECT_DOUBLE_EQ(scheduleFactor(Schedule::Linear, 3, 0, 4), 0.25);
  EXPECT_DOUBLE_EQ(scheduleFactor(Schedule::Cosine, 10, 10, 100), 1.0);
  EXPECT_NEAR(scheduleFactor(Schedule::Cosine, 55, 10, 100), 0.5, 1e-15);
  EXPECT_NEAR(scheduleFactor(Schedule::Cosine, 100, 10, 100), 0.0, 1e-15);
  EXPECT_DOUBLE_EQ(scheduleFactor(Schedule::Constant, 2, 4, 100), 0.5);
  EXPECT_DOUBLE_EQ(scheduleFactor(Schedule::Constant, 50, 4, 100), 1.0);
  EXPECT_FALSE(parseSchedule("exponential"));
}

TEST(Training, EpochOrderIsAReproduciblePermutation) {
  std::vector<int64_t> a = epochOrder(42, 0, 100), b = epochOrder(42, 0, 100);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, epochOrder(42, 1, 100));
  EXPECT_NE(a, epochOrder(43, 0, 100));
  std::vector<int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 100; ++i)
    EXPECT_EQ(sorted[i], i);
}

TEST(Training, JsonlForms) {
  std::string path = writeTemp(
      "{\"input_ids\": [1, 2, 3]}\n"
      "\n"
      "{\"input_ids\": [1, 2, 3], \"labels\": [-100, -100, 3]}\n"
      "{\"prompt_ids\": [4, 5], \"completion_ids\": [6]}\n"
      "{\"input_ids\": [7]}\n"
      "{\"prompt_ids\": [4, 5, 6], \"completion_ids\": []}\n");
  auto data = readJsonl(path, 10, 64, "none");
  llvm::sys::fs::remove(path);
  ASSERT_TRUE(bool(data)) << llvm::toString(data.takeError());
  ASSERT_EQ(data->rows.size(), 3u);
  EXPECT_EQ(data->skipped, 2); // one token; nothing to predict
  EXPECT_EQ(data->rows[0].labels, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(data->rows[1].labels, (std::vector<int64_t>{-100, -100, 3}));
  EXPECT_EQ(data->rows[2].ids, (std::vector<int64_t>{4, 5, 6}));
  EXPECT_EQ(data->rows[2].labels, (std::vector<int64_t>{-100, -100, 6}));

  Batch b = makeBatch(*data, {2, 0}, /*padId=*/0);
  EXPECT_EQ(b.rows, 2);
  EXPECT_EQ(b.length, 3);
  EXPECT_EQ(b.targets, 1 + 2);
  EXPECT_EQ(b.tokens, 6);

  std::string text =
      writeTemp("{\"prompt\": \"ab\", \"completion\": \"cd\"}\n");
  auto bytes = readJsonl(text, 256, 3, "bytes");
  llvm::sys::fs::remove(text);
  ASSERT_TRUE(bool(bytes));
  ASSERT_EQ(bytes->rows.size(), 1u);
  EXPECT_EQ(bytes->rows[0].ids, (std::vector<int64_t>{'a', 'b', 'c'})); // cut
  EXPECT_EQ(bytes->rows[0].labels, (std::vector<int64_t>{-100, -100, 'c'}));
  EXPECT_EQ(bytes->truncated, 1);
}

TEST(Training, PreferencePairs) {
  std::string path = writeTemp(
      "{\"prompt_ids\": [1, 2], \"chosen_ids\": [3, 4], \"rejected_ids\": [5]}\n"
      "{\"prompt_ids\": [1], \"chosen_ids\": [], \"rejected_ids\": [5]}\n"
      "{\"prompt_ids\": [7], \"chosen_ids\": [8], \"rejected_ids\": [9, 9]}\n");
  auto data = readPreferenceJsonl(path, 10, 64, "none");
  llvm::sys::fs::remove(path);
  ASSERT_TRUE(bool(data)) << llvm::toString(data.takeError());
  // Chosen rows first, then the rejected ones; a pair without a chosen
  // completion is skipped.
  ASSERT_EQ(data->rows.size(), 4u);
  EXPECT_EQ(data->skipped, 1);
  EXPECT_EQ(data->rows[0].ids, (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(data->rows[0].labels, (std::vector<int64_t>{-100, -100, 3, 4}));
  EXPECT_EQ(data->rows[1].ids, (std::vector<int64_t>{7, 8}));
  EXPECT_EQ(data->rows[2].ids, (std::vector<int64_t>{1, 2, 5}));
  EXPECT_EQ(data->rows[3].labels, (std::vector<int64_t>{-100, 9, 9}));
  std::string bad = writeTemp("{\"input_ids\": [1, 2]}\n");
  auto e = readPreferenceJsonl(bad, 10, 64, "none");
  llvm::sys::fs::remove(bad);
  ASSERT_FALSE(bool(e));
  EXPECT_NE(llvm::toString(e.takeError()).find("expected a preference pair"),
            std::string::npos);
}

TEST(Training, KtoExamples) {
  // Three examples in groups of two: the KL rows pair each prompt with the
  // previous completion of its group (the first with the group's last),
  // as TRL's KL dataset ([last] + rest within a batch).
  std::string path = writeTemp(
      "{\"prompt_ids\": [1], \"completion_ids\": [2], \"label\": true}\n"
      "{\"prompt_ids\": [3], \"completion_ids\": [4, 4], \"label\": false}\n"
      "{\"prompt_ids\": [5], \"completion_ids\": [6], \"label\": true}\n");
  auto data = readKtoJsonl(path, 10, 64, /*groupSize=*/2, "none");
  llvm::sys::fs::remove(path);
  ASSERT_TRUE(bool(data)) << llvm::toString(data.takeError());
  ASSERT_EQ(data->rows.size(), 6u);
  EXPECT_EQ(data->desirable, (std::vector<bool>{true, false, true}));
  EXPECT_EQ(data->rows[1].ids, (std::vector<int64_t>{3, 4, 4}));
  EXPECT_EQ(data->rows[1].labels, (std::vector<int64_t>{-100, 4, 4}));
  EXPECT_EQ(data->rows[3].ids, (std::vector<int64_t>{1, 4, 4})); // KL rows
  EXPECT_EQ(data->rows[4].ids, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(data->rows[5].ids, (std::vector<int64_t>{5, 6})); // alone
  std::string bad = writeTemp("{\"prompt_ids\": [1], \"completion_ids\": [2]}\n");
  auto e = readKtoJsonl(bad, 10, 64, 2, "none");
  llvm::sys::fs::remove(bad);
  ASSERT_FALSE(bool(e));
  EXPECT_NE(llvm::toString(e.takeError()).find("expected a KTO example"),
            std::string::npos);
}

TEST(Training, JsonlErrors) {
  EXPECT_EQ(errorOf("{\"input_ids\": [1, 2]}\n[1]\n"),
            "2: each line must be a JSON object");
  EXPECT_EQ(errorOf("{\"input_ids\": [1, 20]}\n"),
            "1: \"input_ids\" holds 20, outside the vocabulary [0, 10)");
  EXPECT_EQ(errorOf("{\"input_ids\": [1, 2], \"labels\": [1]}\n"),
            "1: \"labels\" has 1 entries, \"input_ids\" 2");
  EXPECT_EQ(errorOf("{\"input_ids\": [1, 2.5]}\n"),
            "1: \"input_ids\" must be an array of integers");
  EXPECT_EQ(errorOf("{\"ids\": [1]}\n"),
            "1: expected \"input_ids\", \"prompt_ids\" + \"completion_ids\", "
            "\"text\" or \"prompt\" + \"completion\"");
  EXPECT_EQ(errorOf("{\"text\": \"hi\"}\n", 256),
            "1: text rows need --tokenizer=bytes (a byte-level model: the "
            "UTF-8 bytes are the token ids) or --tokenizer=sentencepiece "
            "--spm-model FILE");
  EXPECT_EQ(errorOf("{\"text\": \"hi\"}\n", 100, "bytes"),
            "1: --tokenizer=bytes needs a vocabulary of at least 256 (the "
            "model's is 100)");
  EXPECT_NE(errorOf("{\"input_ids\": [1, 2]\n").find("1: not JSON"),
            std::string::npos);
}

TEST(Training, LossCsvRoundTrip) {
  std::vector<LogRow> rows(2);
  rows[0].step = 1;
  rows[0].epoch = 0.5;
  rows[0].lr = 1e-3;
  rows[0].loss = 2.123456789;
  rows[0].gradNorm = 0.5;
  rows[0].tokens = 100;
  rows[1] = rows[0];
  rows[1].step = 2;
  rows[1].evalLoss = 1.75;
  std::string csv = lossCsv(rows, 3.5);
  auto parsed = parseLossCsv(csv);
  ASSERT_TRUE(bool(parsed)) << llvm::toString(parsed.takeError());
  ASSERT_EQ(parsed->size(), 2u);
  EXPECT_EQ(lossCsv(*parsed, 3.5), csv);
  EXPECT_FALSE(bool((*parsed)[0].evalLoss));
  EXPECT_EQ(*(*parsed)[1].evalLoss, 1.75);
  auto bad = parseLossCsv("header\n1,2,3\n");
  EXPECT_FALSE(bool(bad));
  llvm::consumeError(bad.takeError());
  EXPECT_NE(lossSvg(rows, 3.5, "a <b>").find("a &lt;b>"), std::string::npos);
}
