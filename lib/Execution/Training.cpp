//===- Training.cpp - Data, schedules and logs of tailor-train ------------===//

#include "tailor/Execution/Training.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cmath>

using namespace mlir::tailor::train;
using llvm::StringRef;

namespace {
llvm::Error lineError(StringRef path, int64_t line, const llvm::Twine &what) {
  return llvm::createStringError(
      llvm::inconvertibleErrorCode(),
      (path + ":" + llvm::Twine(line) + ": " + what).str());
}

/// An array of integer token ids.
llvm::Expected<std::vector<int64_t>>
idsOf(const llvm::json::Value *v, StringRef key, int64_t vocab,
      bool labels, StringRef path, int64_t line) {
  const llvm::json::Array *a = v ? v->getAsArray() : nullptr;
  if (!a)
    return lineError(path, line, "\"" + key + "\" must be an array of integers");
  std::vector<int64_t> out;
  out.reserve(a->size());
  for (const llvm::json::Value &e : *a) {
    std::optional<int64_t> id = e.getAsInteger();
    if (!id)
      return lineError(path, line,
                       "\"" + key + "\" must be an array of integers");
    if (!(labels && *id == kIgnoreIndex) && (*id < 0 || *id >= vocab))
      return lineError(path, line,
                       "\"" + key + "\" holds " + llvm::Twine(*id) +
                           ", outside the vocabulary [0, " + llvm::Twine(vocab) +
                           ")");
    out.push_back(*id);
  }
  return out;
}

llvm::Expected<std::vector<int64_t>> bytesOf(const llvm::json::Value *v,
                                             StringRef key, int64_t vocab,
                                             StringRef tokenizer,
                                             StringRef path, int64_t line,
                                             const TextEncoder *encoder) {
  std::optional<StringRef> s = v ? v->getAsString() : std::nullopt;
  if (!s)
    return lineError(path, line, "\"" + key + "\" must be a string");
  if (tokenizer == "sentencepiece" && encoder) {
    auto ids = (*encoder)(*s);
    if (!ids)
      return lineError(path, line, llvm::toString(ids.takeError()));
    for (int64_t id : *ids)
      if (id < 0 || id >= vocab)
        return lineError(path, line,
                         "the SentencePiece model gives id " + llvm::Twine(id) +
                             ", outside the vocabulary [0, " +
                             llvm::Twine(vocab) + ")");
    return ids;
  }
  if (tokenizer != "bytes")
    return lineError(path, line,
                     "text rows need --tokenizer=bytes (a byte-level model: "
                     "the UTF-8 bytes are the token ids) or "
                     "--tokenizer=sentencepiece --spm-model FILE");
  if (vocab < 256)
    return lineError(path, line,
                     "--tokenizer=bytes needs a vocabulary of at least 256 "
                     "(the model's is " + llvm::Twine(vocab) + ")");
  std::vector<int64_t> out;
  for (unsigned char c : *s)
    out.push_back(c);
  return out;
}
/// prompt + completion, only the completion predicted, cut to maxLength
/// (`cut` says whether it was).
Example completionRow(const std::vector<int64_t> &prompt,
                      const std::vector<int64_t> &completion,
                      int64_t maxLength, bool &cut) {
  Example ex;
  ex.ids = prompt;
  ex.ids.insert(ex.ids.end(), completion.begin(), completion.end());
  ex.labels.assign(prompt.size(), kIgnoreIndex);
  ex.labels.insert(ex.labels.end(), completion.begin(), completion.end());
  cut = int64_t(ex.ids.size()) > maxLength;
  if (cut) {
    ex.ids.resize(maxLength);
    ex.labels.resize(maxLength);
  }
  return ex;
}

/// Calls `row` with each non-empty line of a JSONL file as a JSON object
/// (and its line number); the first error stops the walk.
llvm::Error forEachObject(
    StringRef path,
    llvm::function_ref<llvm::Error(const llvm::json::Object &, int64_t)> row) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer)
    return llvm::createStringError(buffer.getError(),
                                   path + ": " + buffer.getError().message());
  int64_t lineNo = 0;
  StringRef rest = (*buffer)->getBuffer();
  while (!rest.empty()) {
    auto [line, tail] = rest.split('\n');
    rest = tail;
    ++lineNo;
    line = line.trim();
    if (line.empty())
      continue;
    llvm::Expected<llvm::json::Value> value = llvm::json::parse(line);
    if (!value)
      return lineError(path, lineNo,
                       "not JSON: " + llvm::toString(value.takeError()));
    const llvm::json::Object *o = value->getAsObject();
    if (!o)
      return lineError(path, lineNo, "each line must be a JSON object");
    if (llvm::Error e = row(*o, lineNo))
      return e;
  }
  return llvm::Error::success();
}
} // namespace

llvm::Expected<Dataset>
mlir::tailor::train::readJsonl(StringRef path, int64_t vocab, int64_t maxLength,
                               StringRef tokenizer,
                               const TextEncoder *encoder) {
  Dataset data;
  llvm::Error walked = forEachObject(path, [&](const llvm::json::Object &obj,
                                                int64_t lineNo) -> llvm::Error {
    const llvm::json::Object *o = &obj;
    Example ex;
    auto take = [&](llvm::Expected<std::vector<int64_t>> v,
                    std::vector<int64_t> &into) -> llvm::Error {
      if (!v)
        return v.takeError();
      into = std::move(*v);
      return llvm::Error::success();
    };
    std::vector<int64_t> prompt, completion;
    bool split = false;
    if (o->get("input_ids")) {
      if (auto e = take(idsOf(o->get("input_ids"), "input_ids", vocab, false,
                              path, lineNo),
                        ex.ids))
        return e;
      if (o->get("labels")) {
        if (auto e = take(idsOf(o->get("labels"), "labels", vocab, true, path,
                                lineNo),
                          ex.labels))
          return e;
        if (ex.labels.size() != ex.ids.size())
          return lineError(path, lineNo,
                           "\"labels\" has " + llvm::Twine(ex.labels.size()) +
                               " entries, \"input_ids\" " +
                               llvm::Twine(ex.ids.size()));
      } else {
        ex.labels = ex.ids;
      }
    } else if (o->get("prompt_ids") || o->get("completion_ids")) {
      if (auto e = take(idsOf(o->get("prompt_ids"), "prompt_ids", vocab, false,
                              path, lineNo),
                        prompt))
        return e;
      if (auto e = take(idsOf(o->get("completion_ids"), "completion_ids",
                              vocab, false, path, lineNo),
                        completion))
        return e;
      split = true;
    } else if (o->get("text")) {
      if (auto e = take(bytesOf(o->get("text"), "text", vocab, tokenizer, path,
                                lineNo, encoder),
                        ex.ids))
        return e;
      ex.labels = ex.ids;
    } else if (o->get("prompt") || o->get("completion")) {
      if (auto e = take(bytesOf(o->get("prompt"), "prompt", vocab, tokenizer,
                                path, lineNo, encoder),
                        prompt))
        return e;
      if (auto e = take(bytesOf(o->get("completion"), "completion", vocab,
                                tokenizer, path, lineNo, encoder),
                        completion))
        return e;
      split = true;
    } else {
      return lineError(path, lineNo,
                       "expected \"input_ids\", \"prompt_ids\" + "
                       "\"completion_ids\", \"text\" or \"prompt\" + "
                       "\"completion\"");
    }
    bool cut = false;
    if (split) {
      ex = completionRow(prompt, completion, maxLength, cut);
    } else if (int64_t(ex.ids.size()) > maxLength) {
      ex.ids.resize(maxLength);
      ex.labels.resize(maxLength);
      cut = true;
    }
    data.truncated += cut;
    // The loss predicts labels[1:]: a row needs one of those kept.
    bool predicts = ex.ids.size() >= 2 &&
                    llvm::any_of(llvm::drop_begin(ex.labels), [](int64_t l) {
                      return l != kIgnoreIndex;
                    });
    if (!predicts) {
      ++data.skipped;
      return llvm::Error::success();
    }
    data.rows.push_back(std::move(ex));
    return llvm::Error::success();
  });
  if (walked)
    return std::move(walked);
  return data;
}

llvm::Expected<Dataset>
mlir::tailor::train::readPreferenceJsonl(StringRef path, int64_t vocab,
                                         int64_t maxLength, StringRef tokenizer,
                                         const TextEncoder *encoder) {
  Dataset data;
  std::vector<Example> rejected;
  llvm::Error walked = forEachObject(path, [&](const llvm::json::Object &obj,
                                                int64_t lineNo) -> llvm::Error {
    const llvm::json::Object *o = &obj;
    bool ids = o->get("prompt_ids") || o->get("chosen_ids") ||
               o->get("rejected_ids");
    bool text = o->get("prompt") || o->get("chosen") || o->get("rejected");
    if (!ids && !text)
      return lineError(path, lineNo,
                       "expected a preference pair: \"prompt_ids\", "
                       "\"chosen_ids\", \"rejected_ids\" or \"prompt\", "
                       "\"chosen\", \"rejected\"");
    std::vector<int64_t> parts[3];
    const char *idKeys[3] = {"prompt_ids", "chosen_ids", "rejected_ids"};
    const char *textKeys[3] = {"prompt", "chosen", "rejected"};
    for (int k = 0; k < 3; ++k) {
      auto v =
          ids ? idsOf(o->get(idKeys[k]), idKeys[k], vocab, false, path, lineNo)
              : bytesOf(o->get(textKeys[k]), textKeys[k], vocab, tokenizer,
                        path, lineNo, encoder);
      if (!v)
        return v.takeError();
      parts[k] = std::move(*v);
    }
    Example pair[2];
    bool predicts = true, cut = false;
    for (int k = 0; k < 2; ++k) {
      bool cutHere = false;
      Example &ex = pair[k] =
          completionRow(parts[0], parts[k + 1], maxLength, cutHere);
      cut |= cutHere;
      predicts &= ex.ids.size() >= 2 &&
                  llvm::any_of(llvm::drop_begin(ex.labels), [](int64_t l) {
                    return l != kIgnoreIndex;
                  });
    }
    data.truncated += cut;
    if (!predicts) {
      ++data.skipped;
      return llvm::Error::success();
    }
    data.rows.push_back(std::move(pair[0]));
    rejected.push_back(std::move(pair[1]));
    return llvm::Error::success();
  });
  if (walked)
    return std::move(walked);
  for (Example &ex : rejected)
    data.rows.push_back(std::move(ex));
  return data;
}

llvm::Expected<Dataset> mlir::tailor::train::readKtoJsonl(
    StringRef path, int64_t vocab, int64_t maxLength, int64_t groupSize,
    StringRef tokenizer, const TextEncoder *encoder) {
  Dataset data;
  // (prompt, completion) of each kept example.
  std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>> parts;
  llvm::Error walked = forEachObject(
      path, [&](const llvm::json::Object &obj, int64_t lineNo) -> llvm::Error {
        const llvm::json::Object *o = &obj;
        bool ids = o->get("prompt_ids") || o->get("completion_ids");
        std::optional<bool> label = o->getBoolean("label");
        if (!label)
          return lineError(path, lineNo,
                           "expected a KTO example: \"prompt\" (or "
                           "\"prompt_ids\"), \"completion\" (or "
                           "\"completion_ids\") and a boolean \"label\"");
        std::vector<int64_t> pc[2];
        const char *idKeys[2] = {"prompt_ids", "completion_ids"};
        const char *textKeys[2] = {"prompt", "completion"};
        for (int k = 0; k < 2; ++k) {
          auto v = ids ? idsOf(o->get(idKeys[k]), idKeys[k], vocab, false, path,
                               lineNo)
                       : bytesOf(o->get(textKeys[k]), textKeys[k], vocab,
                                 tokenizer, path, lineNo, encoder);
          if (!v)
            return v.takeError();
          pc[k] = std::move(*v);
        }
        if (pc[1].empty() || pc[0].size() + pc[1].size() < 2 ||
            int64_t(pc[0].size()) + 1 >= maxLength) {
          ++data.skipped;
          return llvm::Error::success();
        }
        parts.push_back({std::move(pc[0]), std::move(pc[1])});
        data.desirable.push_back(*label);
        return llvm::Error::success();
      });
  if (walked)
    return std::move(walked);
  auto row = [&](const std::vector<int64_t> &prompt,
                 const std::vector<int64_t> &completion, bool count) {
    bool cut = false;
    Example ex = completionRow(prompt, completion, maxLength, cut);
    data.truncated += cut && count;
    return ex;
  };
  int64_t n = parts.size();
  for (int64_t i = 0; i < n; ++i)
    data.rows.push_back(row(parts[i].first, parts[i].second, true));
  // TRL's KL dataset: within each group of groupSize consecutive examples
  // the completions move by one ([last] + rest), so row i pairs prompt i
  // with the completion before it.
  for (int64_t start = 0; start < n; start += groupSize) {
    int64_t end = std::min(n, start + groupSize);
    for (int64_t i = start; i < end; ++i) {
      int64_t other = i == start ? end - 1 : i - 1;
      data.rows.push_back(row(parts[i].first, parts[other].second, false));
    }
  }
  return data;
}

Batch mlir::tailor::train::makeBatch(const Dataset &data,
                                     const std::vector<int64_t> &indices,
                                     int64_t padId, int64_t length) {
  Batch b;
  b.rows = indices.size();
  b.length = length;
  for (int64_t i : indices)
    b.length = std::max<int64_t>(b.length, data.rows[i].ids.size());
  b.ids.assign(b.rows * b.length, padId);
  b.labels.assign(b.rows * b.length, kIgnoreIndex);
  for (int64_t r = 0; r < b.rows; ++r) {
    const Example &ex = data.rows[indices[r]];
    std::copy(ex.ids.begin(), ex.ids.end(), b.ids.begin() + r * b.length);
    std::copy(ex.labels.begin(), ex.labels.end(),
              b.labels.begin() + r * b.length);
    b.tokens += ex.ids.size();
    for (size_t t = 1; t < ex.labels.size(); ++t)
      b.targets += ex.labels[t] != kIgnoreIndex;
  }
  return b;
}

std::vector<int64_t> mlir::tailor::train::epochOrder(uint64_t seed,
                                                     int64_t epoch, int64_t n) {
  // SplitMix64: fully specified, unlike std::shuffle's distribution.
  uint64_t state = seed * 0x9E3779B97F4A7C15ull + uint64_t(epoch) + 1;
  auto next = [&]() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; ++i)
    order[i] = i;
  for (int64_t i = n - 1; i > 0; --i)
    std::swap(order[i], order[next() % uint64_t(i + 1)]);
  return order;
}

std::optional<Schedule> mlir::tailor::train::parseSchedule(StringRef name) {
  if (name == "constant")
    return Schedule::Constant;
  if (name == "linear")
    return Schedule::Linear;
  if (name == "cosine")
    return Schedule::Cosine;
  return std::nullopt;
}

double mlir::tailor::train::scheduleFactor(Schedule schedule, int64_t step,
                                           int64_t warmup, int64_t total) {
  if (step < warmup)
    return double(step) / double(std::max<int64_t>(1, warmup));
  double progress =
      double(step - warmup) / double(std::max<int64_t>(1, total - warmup));
  switch (schedule) {
  case Schedule::Constant:
    return 1.0;
  case Schedule::Linear:
    return std::max(0.0, double(total - step) /
                             double(std::max<int64_t>(1, total - warmup)));
  case Schedule::Cosine:
    return std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));
  }
  return 1.0;
}

std::string mlir::tailor::train::lossCsv(const std::vector<LogRow> &rows,
                                         std::optional<double> baseEvalLoss) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << "step,epoch,lr,loss,grad_norm,tokens,seconds,eval_loss,eval_margin,"
        "eval_accuracy\n";
  auto optional = [&](const std::optional<double> &v) {
    if (v)
      os << llvm::format("%.9g", *v);
  };
  if (baseEvalLoss)
    os << "0,0,0,,,0,0," << llvm::format("%.9g", *baseEvalLoss) << ",,\n";
  for (const LogRow &r : rows) {
    os << r.step << "," << llvm::format("%.6g", r.epoch) << ","
       << llvm::format("%.9g", r.lr) << "," << llvm::format("%.9g", r.loss)
       << "," << llvm::format("%.9g", r.gradNorm) << "," << r.tokens << ","
       << llvm::format("%.3f", r.seconds) << ",";
    optional(r.evalLoss);
    os << ",";
    optional(r.evalMargin);
    os << ",";
    optional(r.evalAccuracy);
    os << "\n";
  }
  return text;
}

llvm::Expected<std::vector<LogRow>>
mlir::tailor::train::parseLossCsv(StringRef text) {
  std::vector<LogRow> rows;
  llvm::SmallVector<StringRef> lines, fields;
  text.split(lines, '\n', -1, /*KeepEmpty=*/false);
  for (size_t i = 1; i < lines.size(); ++i) {
    fields.clear();
    lines[i].split(fields, ',', -1, /*KeepEmpty=*/true);
    LogRow r;
    auto num = [&](StringRef f, double &out) {
      return !f.trim().getAsDouble(out);
    };
    if (fields.size() != 10 || fields[0].getAsInteger(10, r.step))
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "loss.csv line " + std::to_string(i + 1) +
                                         ": not a log row");
    if (r.step == 0)
      continue; // the base model's held-out loss
    double tokens = 0;
    if (!num(fields[1], r.epoch) || !num(fields[2], r.lr) ||
        !num(fields[3], r.loss) || !num(fields[4], r.gradNorm) ||
        !num(fields[5], tokens) || !num(fields[6], r.seconds))
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "loss.csv line " + std::to_string(i + 1) +
                                         ": not a log row");
    r.tokens = int64_t(tokens);
    std::optional<double> *columns[3] = {&r.evalLoss, &r.evalMargin,
                                         &r.evalAccuracy};
    for (int c = 0; c < 3; ++c) {
      double v;
      if (fields[7 + c].trim().empty())
        continue;
      if (!num(fields[7 + c], v))
        return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                       "loss.csv line " +
                                           std::to_string(i + 1) +
                                           ": bad evaluation column");
      *columns[c] = v;
    }
    rows.push_back(r);
  }
  return rows;
}

std::string mlir::tailor::train::lossSvg(const std::vector<LogRow> &rows,
                                         std::optional<double> baseEvalLoss,
                                         StringRef title) {
  const double w = 640, h = 360, left = 60, right = 20, top = 30, bottom = 40;
  double lo = INFINITY, hi = -INFINITY;
  int64_t lastStep = 1;
  auto see = [&](double v) {
    if (std::isfinite(v)) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  };
  for (const LogRow &r : rows) {
    see(r.loss);
    if (r.evalLoss)
      see(*r.evalLoss);
    lastStep = std::max(lastStep, r.step);
  }
  if (baseEvalLoss)
    see(*baseEvalLoss);
  if (!(lo <= hi)) {
    lo = 0;
    hi = 1;
  }
  if (hi - lo < 1e-9)
    hi = lo + 1;
  double pad = 0.05 * (hi - lo);
  lo -= pad;
  hi += pad;
  auto x = [&](double step) {
    return left + (w - left - right) * step / double(lastStep);
  };
  auto y = [&](double v) {
    return top + (h - top - bottom) * (hi - v) / (hi - lo);
  };
  std::string text;
  llvm::raw_string_ostream os(text);
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << int(w)
     << "\" height=\"" << int(h) << "\" font-family=\"sans-serif\" "
     << "font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" "
     << "fill=\"white\"/>\n";
  os << "<text x=\"" << int(left) << "\" y=\"18\">";
  for (char c : title) {
    if (c == '<')
      os << "&lt;";
    else if (c == '&')
      os << "&amp;";
    else
      os << c;
  }
  os << "</text>\n";
  // Axes and ticks.
  os << llvm::format("<path d=\"M%.1f %.1f V%.1f H%.1f\" stroke=\"black\" "
                     "fill=\"none\"/>\n",
                     left, top, h - bottom, w - right);
  for (int i = 0; i <= 4; ++i) {
    double v = lo + (hi - lo) * i / 4;
    os << llvm::format("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">"
                       "%.3g</text>\n",
                       left - 6, y(v) + 4, v);
    double s = double(lastStep) * i / 4;
    os << llvm::format("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">"
                       "%.0f</text>\n",
                       x(s), h - bottom + 16, s);
  }
  os << llvm::format("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">"
                     "optimizer step</text>\n",
                     left + (w - left - right) / 2, h - 6);
  // Training loss: a polyline; held-out loss: points joined by a line.
  os << "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" "
        "points=\"";
  for (const LogRow &r : rows)
    if (std::isfinite(r.loss))
      os << llvm::format("%.1f,%.1f ", x(r.step), y(r.loss));
  os << "\"/>\n";
  std::vector<std::pair<double, double>> eval;
  if (baseEvalLoss)
    eval.push_back({0, *baseEvalLoss});
  for (const LogRow &r : rows)
    if (r.evalLoss)
      eval.push_back({double(r.step), *r.evalLoss});
  if (!eval.empty()) {
    os << "<polyline fill=\"none\" stroke=\"#d62728\" stroke-width=\"1.5\" "
          "points=\"";
    for (auto [s, v] : eval)
      os << llvm::format("%.1f,%.1f ", x(s), y(v));
    os << "\"/>\n";
    for (auto [s, v] : eval)
      os << llvm::format("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" "
                         "fill=\"#d62728\"/>\n",
                         x(s), y(v));
  }
  os << llvm::format("<text x=\"%.1f\" y=\"%.1f\" fill=\"#1f77b4\" "
                     "text-anchor=\"end\">training loss</text>\n",
                     w - right, top + 12.0);
  os << llvm::format("<text x=\"%.1f\" y=\"%.1f\" fill=\"#d62728\" "
                     "text-anchor=\"end\">held-out loss</text>\n",
                     w - right, top + 28.0);
  os << "</svg>\n";
  return text;
}
