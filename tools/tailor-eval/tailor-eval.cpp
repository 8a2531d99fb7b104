//===- tailor-eval.cpp - Quality and speed of compiled language models ----===//
//
// Compares compiled causal LMs (tailor-compile's .so files; the first is the
// reference, typically fp32) on held-out token windows:
//   perplexity, mean KL(reference || model) of the next-token
//   distributions, top-1 agreement with the reference, artifact size, and
//   (--speed) prefill and decode tokens/s.
// The models are KV-cache exports (input_ids + past_* -> logits +
// present_*); windows run as one batch of prompts with an empty past.

#include "tailor-c/tailor.h"
#include "tailor/Execution/TokenWindows.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

namespace cl = llvm::cl;
using llvm::StringRef;

static cl::OptionCategory category("tailor-eval options");
static cl::list<std::string>
    modelPaths(cl::Positional, cl::OneOrMore,
               cl::desc("<reference.so> [<model.so> ...]"), cl::cat(category));
static cl::opt<std::string> tokensPath(
    "tokens", cl::Required,
    cl::desc("Held-out token windows: an int64 .npy of shape [N, W+1] (tokens "
             "1..W of each row are predicted from the ones before them), or "
             "[T] (cut into windows of --window + 1)"),
    cl::value_desc("file.npy"), cl::cat(category));
static cl::opt<unsigned> window("window", cl::init(128),
                                cl::desc("Window length for a 1-D token file"),
                                cl::cat(category));
static cl::opt<unsigned> maxWindows(
    "max-windows", cl::init(0),
    cl::desc("Evaluate at most this many windows (0: all)"), cl::cat(category));
static cl::opt<unsigned> batch("batch", cl::init(16),
                               cl::desc("Windows per run"), cl::cat(category));
static cl::opt<bool> speed(
    "speed", cl::init(false),
    cl::desc("Also time prefill (one prompt of --prompt-length tokens) and "
             "greedy decode (--decode tokens after that prompt): the median "
             "of --rounds runs each, after one warm-up run"),
    cl::cat(category));
static cl::opt<unsigned> rounds(
    "rounds", cl::init(5),
    cl::desc("--speed: timing rounds. Each round times every model once, "
             "in a rotated order (round r starts at model r x models / "
             "rounds, so that each model's places spread over the whole "
             "round), so that a slow spell of a shared machine falls on all "
             "models alike"),
    cl::cat(category));
static cl::opt<unsigned> promptLength("prompt-length", cl::init(128),
                                      cl::desc("--speed: prompt tokens"),
                                      cl::cat(category));
static cl::opt<unsigned> decodeTokens("decode", cl::init(128),
                                      cl::desc("--speed: decode steps"),
                                      cl::cat(category));
static cl::opt<int> numThreads(
    "num-threads", cl::init(0),
    cl::desc("Threads per model run (0: OMP_NUM_THREADS or all cores)"),
    cl::cat(category));
static cl::opt<std::string> jsonPath(
    "json", cl::desc("Also write the results as JSON to this file"),
    cl::value_desc("file"), cl::cat(category));

namespace {
int fail(const llvm::Twine &message) {
  llvm::errs() << "tailor-eval: " << message << "\n";
  return 1;
}

struct Model {
  std::string path;
  tailor_model *handle = nullptr;
  ~Model() {
    if (handle)
      tailor_model_unload(handle);
  }
};

struct Stats {
  double nll = 0, kl = 0;
  int64_t tokens = 0, agree = 0;
  double prefillTokS = 0, decodeTokS = 0;
  uint64_t bytes = 0;
};

/// Runs windows [rows, W] of `tokens` through `model`; returns the logits
/// [rows, W, V] or an error message.
llvm::Expected<std::vector<float>> runWindows(tailor_model *model,
                                              const int64_t *tokens,
                                              int64_t rows, int64_t w,
                                              int64_t &vocab) {
  auto result = mlir::tailor::runTokenWindows(model, tokens, rows, w);
  if (!result)
    return result.takeError();
  auto data = mlir::tailor::windowLogits(result->get(), rows, w, vocab);
  if (!data)
    return data.takeError();
  return std::vector<float>(*data, *data + rows * w * vocab);
}

/// Prefill and decode timing of one model with the runtime's session
/// (batch 1): one sample per round.
class SpeedProbe {
public:
  llvm::Error init(tailor_model *model) {
    tailor_session *s = nullptr;
    if (tailor_session_create(model, &s) != TAILOR_OK)
      return llvm::createStringError(tailor_last_error());
    session.reset(s);
    prompt.resize(promptLength);
    for (unsigned i = 0; i < promptLength; ++i)
      prompt[i] = 32 + (i * 7) % 90; // printable bytes; any ids in range work
    vocab = tailor_session_vocab_size(session.get());
    return prefill(); // warm-up (first-touch of buffers, thread start)
  }

  /// Times one prefill of the prompt and one greedy decode after it.
  llvm::Error sample() {
    auto t0 = Clock::now();
    if (llvm::Error e = prefill())
      return e;
    prefillTimes.push_back(seconds(t0));
    t0 = Clock::now();
    for (unsigned s = 0; s < decodeTokens; ++s) {
      int64_t next = std::max_element(logits, logits + vocab) - logits;
      if (tailor_session_decode_step(session.get(), next, &logits) != TAILOR_OK)
        return llvm::createStringError(tailor_last_error());
    }
    decodeTimes.push_back(seconds(t0));
    return llvm::Error::success();
  }

  void finish(Stats &stats) {
    stats.prefillTokS = promptLength / median(prefillTimes);
    stats.decodeTokS = decodeTokens / median(decodeTimes);
  }

private:
  using Clock = std::chrono::steady_clock;
  static double seconds(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
  }
  static double median(std::vector<double> &v) {
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  }
  llvm::Error prefill() {
    tailor_session_reset(session.get());
    if (tailor_session_prefill(session.get(), prompt.data(), prompt.size(),
                               &logits) != TAILOR_OK)
      return llvm::createStringError(tailor_last_error());
    return llvm::Error::success();
  }

  std::unique_ptr<tailor_session, void (*)(tailor_session *)> session{
      nullptr, tailor_session_free};
  std::vector<int64_t> prompt;
  const float *logits = nullptr;
  int64_t vocab = 0;
  std::vector<double> prefillTimes, decodeTimes;
};
} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      argc, argv,
      "tailor-eval: quality and speed of compiled language models.\n\n"
      "The first model is the reference (e.g. fp32); for each model prints\n"
      "perplexity on the held-out windows, the mean KL(reference || model)\n"
      "of next-token distributions (nats/token), top-1 agreement with the\n"
      "reference, the artifact size and, with --speed, prefill and decode\n"
      "tokens/s. Example:\n"
      "  tailor-compile model.onnx -o fp32.so\n"
      "  tailor-compile model.onnx --quantize=int8 -o int8.so\n"
      "  tailor-eval fp32.so int8.so --tokens heldout.npy --speed\n");
  if (batch == 0)
    return fail("--batch must be at least 1");
  if (speed && rounds == 0)
    return fail("--rounds must be at least 1");

  auto windows =
      mlir::tailor::readTokenWindows(tokensPath, window, maxWindows);
  if (!windows)
    return fail(llvm::toString(windows.takeError()));
  int64_t rows = windows->rows, w = windows->width;

  std::vector<std::unique_ptr<Model>> models;
  for (const std::string &path : modelPaths) {
    auto m = std::make_unique<Model>();
    m->path = path;
    if (tailor_model_load(path.c_str(), &m->handle) != TAILOR_OK)
      return fail(path + ": " + tailor_last_error());
    if (numThreads > 0 &&
        tailor_model_set_num_threads(m->handle, numThreads) != TAILOR_OK)
      return fail(tailor_last_error());
    models.push_back(std::move(m));
  }

  std::vector<Stats> stats(models.size());
  for (size_t m = 0; m < models.size(); ++m) {
    uint64_t size = 0;
    if (!llvm::sys::fs::file_size(models[m]->path, size))
      stats[m].bytes = size;
  }
  std::vector<int64_t> in, targets;
  std::vector<double> refLog, logq;
  int64_t vocab = 0;
  llvm::errs() << "tailor-eval: " << rows << " windows of " << w
               << " tokens, " << models.size() << " model(s)\n";
  for (int64_t r0 = 0; r0 < rows; r0 += batch) {
    int64_t n = std::min<int64_t>(batch, rows - r0);
    in.assign(n * w, 0);
    targets.assign(n * w, 0);
    for (int64_t r = 0; r < n; ++r)
      for (int64_t t = 0; t < w; ++t) {
        in[r * w + t] = windows->row(r0 + r)[t];
        targets[r * w + t] = windows->row(r0 + r)[t + 1];
      }
    std::vector<std::vector<float>> logits;
    for (auto &model : models) {
      auto out = runWindows(model->handle, in.data(), n, w, vocab);
      if (!out)
        return fail(model->path + ": " + llvm::toString(out.takeError()));
      logits.push_back(std::move(*out));
    }
    for (int64_t p = 0; p < n * w; ++p) {
      if (targets[p] < 0 || targets[p] >= vocab)
        return fail(tokensPath + ": token " + std::to_string(targets[p]) +
                    " outside the vocabulary (" + std::to_string(vocab) + ")");
      mlir::tailor::logSoftmax(&logits[0][p * vocab], vocab, refLog);
      int64_t refTop = std::max_element(refLog.begin(), refLog.end()) -
                       refLog.begin();
      for (size_t m = 0; m < models.size(); ++m) {
        const std::vector<double> *lp = &refLog;
        if (m) {
          mlir::tailor::logSoftmax(&logits[m][p * vocab], vocab, logq);
          lp = &logq;
          stats[m].kl += mlir::tailor::klDivergence(refLog.data(), logq.data(), vocab);
        }
        stats[m].nll -= (*lp)[targets[p]];
        int64_t top = std::max_element(lp->begin(), lp->end()) - lp->begin();
        stats[m].agree += top == refTop;
        ++stats[m].tokens;
      }
    }
    if (llvm::errs().is_displayed())
      llvm::errs() << "\r  " << std::min(rows, r0 + n) << "/" << rows
                   << " windows";
  }
  if (llvm::errs().is_displayed())
    llvm::errs() << "\n";
  if (speed) {
    // Interleaved rounds: a model's samples spread over the whole timing,
    // so the ratios between models do not depend on when each one ran.
    std::vector<SpeedProbe> probes(models.size());
    for (size_t m = 0; m < models.size(); ++m)
      if (llvm::Error e = probes[m].init(models[m]->handle))
        return fail(models[m]->path + ": --speed: " +
                    llvm::toString(std::move(e)));
    size_t count = models.size();
    for (unsigned r = 0; r < rounds; ++r) {
      // Round r starts at model r * count / rounds: with fewer rounds than
      // models, a start one model later per round would keep the last
      // models late in every round (where a machine that throttles long
      // runs is slowest).
      size_t start = size_t(r) * count / rounds;
      for (size_t k = 0; k < count; ++k) {
        size_t m = (k + start) % count;
        if (llvm::Error e = probes[m].sample())
          return fail(models[m]->path + ": --speed: " +
                      llvm::toString(std::move(e)));
      }
      if (llvm::errs().is_displayed())
        llvm::errs() << "\r  speed: round " << r + 1 << "/" << rounds;
    }
    if (llvm::errs().is_displayed())
      llvm::errs() << "\n";
    for (size_t m = 0; m < count; ++m)
      probes[m].finish(stats[m]);
  }

  double refBytes = stats[0].bytes ? double(stats[0].bytes) : 1.0;
  llvm::outs() << llvm::format("%-28s %9s %6s %9s %12s %7s", "model",
                               "size MB", "x ref", "ppl", "KL nats/tok",
                               "top-1");
  if (speed)
    llvm::outs() << llvm::format(" %11s %10s", "prefill t/s", "decode t/s");
  llvm::outs() << "\n";
  llvm::json::Array results;
  for (size_t m = 0; m < models.size(); ++m) {
    const Stats &s = stats[m];
    double ppl = std::exp(s.nll / s.tokens);
    double kl = s.kl / s.tokens, top1 = double(s.agree) / s.tokens;
    std::string name = llvm::sys::path::filename(models[m]->path).str();
    llvm::outs() << llvm::format("%-28s %9.2f %6.3f %9.4f %12.3e %6.2f%%",
                                 name.c_str(), s.bytes / 1e6,
                                 s.bytes / refBytes, ppl, kl, 100 * top1);
    if (speed)
      llvm::outs() << llvm::format(" %11.1f %10.1f", s.prefillTokS,
                                   s.decodeTokS);
    llvm::outs() << "\n";
    llvm::json::Object o{{"model", models[m]->path},
                         {"bytes", int64_t(s.bytes)},
                         {"perplexity", ppl},
                         {"kl", kl},
                         {"top1_agreement", top1},
                         {"tokens", s.tokens}};
    if (speed) {
      o["prefill_tokens_per_s"] = s.prefillTokS;
      o["decode_tokens_per_s"] = s.decodeTokS;
    }
    results.push_back(std::move(o));
  }
  if (!jsonPath.empty()) {
    llvm::json::Value doc(llvm::json::Object{
        {"windows", rows}, {"window", w}, {"results", std::move(results)}});
    // Written to a temporary file and renamed.
    if (llvm::Error e = llvm::writeToOutput(
            jsonPath, [&](llvm::raw_ostream &os) -> llvm::Error {
              os << llvm::formatv("{0:2}", doc) << "\n";
              return llvm::Error::success();
            }))
      return fail(jsonPath + ": " + llvm::toString(std::move(e)));
  }
  return 0;
}
