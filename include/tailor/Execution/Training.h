//===- Training.h - Data, schedules and logs of tailor-train --------------===//
//
// The host side of a training run that does not depend on MLIR: the JSONL
// dataset, batches, the data order, learning-rate schedules (as Hugging
// Face's transformers defines them) and the loss curve (CSV and SVG).

#ifndef TAILOR_EXECUTION_TRAINING_H
#define TAILOR_EXECUTION_TRAINING_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace mlir::tailor::train {

/// Label value of positions the loss leaves out (prompt tokens, padding).
constexpr int64_t kIgnoreIndex = -100;

/// One training example: token ids and the labels the loss predicts
/// (kIgnoreIndex where it does not).
struct Example {
  std::vector<int64_t> ids, labels;
};

struct Dataset {
  std::vector<Example> rows;
  /// Rows left out: fewer than two tokens or nothing to predict.
  int64_t skipped = 0;
  /// Rows cut to maxLength.
  int64_t truncated = 0;
  /// KTO: per example, whether its completion is desirable.
  std::vector<bool> desirable;
};

/// Text to token ids (tailor-train --tokenizer sentencepiece).
using TextEncoder =
    std::function<llvm::Expected<std::vector<int64_t>>(llvm::StringRef)>;

/// A SentencePiece model file (Debian's libsentencepiece) as an encoder:
/// the ids SentencePieceProcessor::Encode gives (no BOS / EOS added), and
/// its vocabulary size in `vocabSize`. Errors name the file.
llvm::Expected<TextEncoder> loadSentencePiece(llvm::StringRef path,
                                              int64_t &vocabSize);

/// Reads a JSONL file, one example per line, in one of these forms:
///   {"input_ids": [...]}                      every token is predicted
///   {"input_ids": [...], "labels": [...]}     labels given (-100: ignored)
///   {"prompt_ids": [...], "completion_ids": [...]}   only the completion
///   {"text": "..."} and {"prompt": "...", "completion": "..."}, with
///     `tokenizer` "bytes" (the UTF-8 bytes are the ids: byte-level models)
///     or "sentencepiece" (`encoder`; prompt and completion encoded apart)
/// Ids must lie in [0, vocab). Rows longer than maxLength are cut. Errors
/// name the file and line.
llvm::Expected<Dataset> readJsonl(llvm::StringRef path, int64_t vocab,
                                  int64_t maxLength, llvm::StringRef tokenizer,
                                  const TextEncoder *encoder = nullptr);

/// Reads preference pairs, one per line:
///   {"prompt_ids": [...], "chosen_ids": [...], "rejected_ids": [...]}
///   {"prompt": "...", "chosen": "...", "rejected": "..."} (--tokenizer=bytes)
/// into a Dataset of 2n rows: rows [0, n) the chosen completions, [n, 2n)
/// the rejected ones, in the same order (only completions are predicted).
/// A pair whose either side has nothing to predict is skipped.
llvm::Expected<Dataset>
readPreferenceJsonl(llvm::StringRef path, int64_t vocab, int64_t maxLength,
                    llvm::StringRef tokenizer,
                    const TextEncoder *encoder = nullptr);

/// Reads KTO examples, one per line:
///   {"prompt_ids": [...], "completion_ids": [...], "label": true}
///   {"prompt": "...", "completion": "...", "label": false} (a tokenizer)
/// into a Dataset of 2n rows: rows [0, n) the examples (only completions
/// predicted; `desirable` their labels), rows [n, 2n) the mismatched pairs
/// of KTO's KL estimate, as TRL's KL dataset builds them: within each group
/// of `groupSize` consecutive examples (the batch size), example i's prompt
/// with the previous example's completion (the first takes the last's).
llvm::Expected<Dataset> readKtoJsonl(llvm::StringRef path, int64_t vocab,
                                     int64_t maxLength, int64_t groupSize,
                                     llvm::StringRef tokenizer,
                                     const TextEncoder *encoder = nullptr);

/// A padded batch [rows, length] (right padding: ids `padId`, labels
/// kIgnoreIndex), length the longest row's, or `length` when given (a step
/// compiled for static shapes; no row may be longer).
struct Batch {
  int64_t rows = 0, length = 0;
  std::vector<int64_t> ids, labels;
  /// Positions whose next token the loss predicts (labels[t + 1] kept).
  int64_t targets = 0;
  /// Tokens that are not padding.
  int64_t tokens = 0;
};
Batch makeBatch(const Dataset &data, const std::vector<int64_t> &indices,
                int64_t padId, int64_t length = 0);

/// The order of the rows in `epoch`: a permutation that depends only on
/// (seed, epoch, n), the same on every machine (Fisher-Yates over
/// SplitMix64).
std::vector<int64_t> epochOrder(uint64_t seed, int64_t epoch, int64_t n);

/// Learning-rate schedules (transformers' get_*_schedule_with_warmup):
/// the factor of the peak learning rate at optimizer step `step` (0-based)
/// of `total`, after a linear warm-up of `warmup` steps.
enum class Schedule { Constant, Linear, Cosine };
std::optional<Schedule> parseSchedule(llvm::StringRef name);
double scheduleFactor(Schedule schedule, int64_t step, int64_t warmup,
                      int64_t total);

/// One logged optimizer step.
struct LogRow {
  int64_t step = 0; ///< 1-based
  double epoch = 0, lr = 0, loss = 0, gradNorm = 0;
  int64_t tokens = 0;
  double seconds = 0;
  /// The held-out loss, when evaluated after this step.
  std::optional<double> evalLoss;
  /// Preference losses: the held-out mean reward margin (chosen - rejected)
  /// and the fraction of pairs whose chosen reward is higher.
  std::optional<double> evalMargin, evalAccuracy;
};

/// The CSV text: step,epoch,lr,loss,grad_norm,tokens,seconds,eval_loss,
/// eval_margin,eval_accuracy
/// (losses with 9 significant digits: reruns compare them as text).
std::string lossCsv(const std::vector<LogRow> &rows,
                    std::optional<double> baseEvalLoss);
/// Parses lossCsv's text (for --resume).
llvm::Expected<std::vector<LogRow>> parseLossCsv(llvm::StringRef text);
/// An SVG plot of the training loss (and the held-out loss).
std::string lossSvg(const std::vector<LogRow> &rows,
                    std::optional<double> baseEvalLoss,
                    llvm::StringRef title);

} // namespace mlir::tailor::train

#endif // TAILOR_EXECUTION_TRAINING_H
