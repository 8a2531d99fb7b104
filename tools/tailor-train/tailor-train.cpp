//===- tailor-train.cpp - Fine-tune a language model with compiled steps ---===//
//
// ONNX model + JSONL dataset -> a trained LoRA adapter (PEFT's format) or
// fully fine-tuned weights. The training step is compiled once:
//   import (ONNX-level ops) -> tailor-peft (which weights train)
//   -> tailor-loss (causal-LM cross-entropy) -> tailor-autodiff
//   -> tailor-optimizer (the update) -> CPU code (JIT)
// and the host loop feeds it batches, the learning rate of the schedule and
// the parameters and optimizer state it returned the step before. A second
// compiled function (the same model and loss, no gradient) evaluates the
// held-out set. Checkpoints (parameters, optimizer state, the log) are
// safetensors files written atomically; --resume continues from the newest
// one with the same data order and learning rates, so an interrupted run
// reproduces the losses of an uninterrupted one.

#include "tailor-c/abi.h"
#include "tailor-c/tailor.h"
#include "tailor/Support/AdaLora.h"
#include "tailor/Execution/BufferStats.h"
#include "tailor/Execution/JitModel.h"
#include "tailor/Execution/Training.h"
#include "tailor/Import/OnnxImporter.h"
#include "tailor/InitTailor.h"
#include "tailor/Support/SafeTensors.h"
#include "tailor/Target/Target.h"
#include "tailor/Transforms/Entry.h"
#include "tailor/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <array>
#include <chrono>
#include <cmath>
#include <cstring>
#include <deque>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

using namespace mlir;
using namespace mlir::tailor;
using namespace mlir::tailor::train;
namespace cl = llvm::cl;
using llvm::StringRef;

static cl::OptionCategory category("tailor-train options");
static cl::OptionCategory optimCategory("tailor-train optimizer options");
static cl::opt<std::string> modelPath(cl::Positional, cl::Required,
                                      cl::desc("<model.onnx>"),
                                      cl::cat(category));
static cl::opt<std::string> configPath(
    "config",
    cl::desc("A JSON object of options ({\"lr\": 1e-3, \"method\": "
             "\"lora\", ...}, the names of the command-line options); the "
             "command line overrides it"),
    cl::value_desc("file.json"), cl::cat(category));
static cl::opt<std::string> dataPath(
    "data", cl::Required,
    cl::desc("Training data, JSONL: {\"input_ids\": [...]} (optionally with "
             "\"labels\", -100 = not predicted), {\"prompt_ids\": [...], "
             "\"completion_ids\": [...]} (only the completion is predicted), "
             "or {\"text\": ...} / {\"prompt\": ..., \"completion\": ...} "
             "with --tokenizer=bytes; preference losses: {\"prompt_ids\", "
             "\"chosen_ids\", \"rejected_ids\"} or {\"prompt\", \"chosen\", "
             "\"rejected\"}"),
    cl::value_desc("train.jsonl"), cl::cat(category));
static cl::opt<std::string> evalPath(
    "eval-data",
    cl::desc("Held-out data (same forms): its loss is printed before "
             "training, every --eval-every steps and at the end"),
    cl::value_desc("eval.jsonl"), cl::cat(category));
static cl::opt<std::string> outputDir(
    "output-dir", cl::Required,
    cl::desc("Where checkpoints, loss.csv, loss.svg and the result "
             "(adapter/ for LoRA, model.safetensors for full) go"),
    cl::value_desc("dir"), cl::cat(category));
static cl::alias outputAlias("o", cl::aliasopt(outputDir),
                             cl::desc("Alias for --output-dir"));
static cl::opt<std::string> tokenizer(
    "tokenizer", cl::init("none"),
    cl::desc("How text rows become ids: none (only id rows), bytes (UTF-8 "
             "bytes: byte-level models), sentencepiece (--spm-model)"),
    cl::cat(category));
static cl::opt<std::string>
    spmModel("spm-model", cl::init(""),
             cl::desc("--tokenizer sentencepiece: the SentencePiece model file "
                      "(tokenizer.model; no BOS / EOS added)"),
             cl::value_desc("file"), cl::cat(category));
static cl::opt<std::string> dumpTokens(
    "dump-tokens", cl::init(""),
    cl::desc("Write the training rows as tokenized (JSONL: input_ids, "
             "labels) to this file and stop"),
    cl::value_desc("file"), cl::cat(category));
static cl::opt<std::string> dumpStep(
    "dump-step", cl::init(""),
    cl::desc("Also write the training step's MLIR (tailor dialect, before "
             "the CPU pipeline) to this file: tailor-compile FILE "
             "--compile-to=... reproduces its compilation"),
    cl::value_desc("file"), cl::cat(category));
static cl::opt<std::string> method(
    "method", cl::init("lora"),
    cl::desc("What trains: lora (adapters beside the linears; the base stays "
             "frozen), adalora (SVD-shaped adapters whose ranks are "
             "reallocated by importance), ia3 ((IA)3 scaling vectors), "
             "adapter (bottleneck adapters), prefix, prompt, full (every "
             "matching weight) or bitfit (the biases)"),
    cl::cat(category));
static cl::list<std::string> feedforward(
    "feedforward", cl::CommaSeparated,
    cl::desc("--method ia3: regexes of the modules whose input is scaled "
             "(default: down, down_proj, fc2, w2)"),
    cl::cat(category));
static cl::opt<int64_t>
    adapterSize("adapter-size", cl::init(64),
                cl::desc("--method adapter: the bottleneck width"),
                cl::cat(category));
static cl::opt<std::string> adapterPlacement(
    "adapter-placement", cl::init("serial"),
    cl::desc("--method adapter: serial (after the linear) or parallel "
             "(beside it, reading its input)"),
    cl::cat(category));
static cl::opt<std::string> adapterActivation(
    "adapter-activation", cl::init("relu"),
    cl::desc("--method adapter: relu, gelu, silu, tanh or none"),
    cl::cat(category));
static cl::opt<int64_t> virtualTokens(
    "virtual-tokens", cl::init(20),
    cl::desc("--method prefix or prompt: the number of virtual tokens"),
    cl::cat(category));
static cl::opt<double>
    adapterScaling("adapter-scaling", cl::init(1.0),
                   cl::desc("--method adapter: the parallel adapter's scale"),
                   cl::cat(category));
static cl::opt<int64_t> loraR("lora-r", cl::init(8), cl::desc("LoRA rank"),
                              cl::cat(category));
static cl::opt<double> loraAlpha("lora-alpha", cl::init(16),
                                 cl::desc("LoRA alpha (scale alpha / r)"),
                                 cl::cat(category));
static cl::opt<int64_t> adaInitR(
    "adalora-init-r", cl::init(12),
    cl::desc("--method adalora: every adapted matrix's initial rank (PEFT's "
             "init_r)"),
    cl::cat(category));
static cl::opt<int64_t> adaTargetR(
    "adalora-target-r", cl::init(8),
    cl::desc("--method adalora: the average rank the budget shrinks to "
             "(target_r)"),
    cl::cat(category));
static cl::opt<int64_t> adaTinit(
    "adalora-tinit", cl::init(0),
    cl::desc("--method adalora: steps before the budget starts to shrink"),
    cl::cat(category));
static cl::opt<int64_t> adaTfinal(
    "adalora-tfinal", cl::init(0),
    cl::desc("--method adalora: final steps trained with the rank pattern "
             "fixed"),
    cl::cat(category));
static cl::opt<int64_t> adaDeltaT(
    "adalora-delta-t", cl::init(1),
    cl::desc("--method adalora: steps between two reallocations"),
    cl::cat(category));
static cl::opt<double> adaBeta1(
    "adalora-beta1", cl::init(0.85),
    cl::desc("--method adalora: the importance EMA's decay"),
    cl::cat(category));
static cl::opt<double> adaBeta2(
    "adalora-beta2", cl::init(0.85),
    cl::desc("--method adalora: the uncertainty EMA's decay"),
    cl::cat(category));
static cl::opt<double> orthRegWeight(
    "orth-reg-weight", cl::init(0.5),
    cl::desc("--method adalora: the weight of the orthogonality "
             "regulariser"),
    cl::cat(category));
static cl::opt<bool> rslora("rslora", cl::init(false),
                            cl::desc("LoRA scale alpha / sqrt(r)"),
                            cl::cat(category));
static cl::opt<bool> loraFA("lora-fa", cl::init(false),
                            cl::desc("LoRA-FA: A stays frozen at its random "
                                     "initial value; only B trains"),
                            cl::cat(category));
static cl::opt<bool> dora("dora", cl::init(false),
                          cl::desc("DoRA: LoRA plus a trainable magnitude "
                                   "per output (PEFT's use_dora)"),
                          cl::cat(category));
static cl::list<std::string> target(
    "target", cl::CommaSeparated,
    cl::desc("Regexes of the module (LoRA) or weight (full) names that "
             "train (default: all)"),
    cl::cat(category));
static cl::list<std::string> exclude(
    "exclude", cl::CommaSeparated,
    cl::desc("Regexes of names that stay frozen"), cl::cat(category));
static cl::opt<int64_t> steps(
    "steps", cl::init(0),
    cl::desc("Optimizer steps (0: --epochs passes over the data)"),
    cl::cat(category));
static cl::opt<int64_t> epochs("epochs", cl::init(1),
                               cl::desc("Passes over the data when --steps=0"),
                               cl::cat(category));
static cl::opt<int64_t> batchSize("batch-size", cl::init(8),
                                  cl::desc("Examples per micro-batch"),
                                  cl::cat(category));
static cl::opt<int64_t> gradAccum(
    "grad-accum", cl::init(1),
    cl::desc("Micro-batches per optimizer step (gradient accumulation)"),
    cl::cat(category));
static cl::opt<int64_t> maxLength("max-length", cl::init(256),
                                  cl::desc("Examples are cut to this many tokens"),
                                  cl::cat(category));
static cl::opt<std::string> qat(
    "qat", cl::init("none"),
    cl::desc("Quantization-aware training (with --method full): none, int8 "
             "(per output channel) or int4 (groups of --qat-group-size "
             "rows); the weights are read through fake quantization, the "
             "gradient passes straight through; tailor-compile --weights "
             "model.safetensors --quantize <same> makes the integer model"),
    cl::cat(category));
static cl::opt<int64_t> qatGroupSize("qat-group-size", cl::init(128),
                                     cl::desc("--qat int4: rows per scale"),
                                     cl::cat(category));
static cl::opt<std::string> quantizeBase(
    "quantize-base", cl::init("none"),
    cl::desc("QLoRA's frozen quantized base (with a method that keeps the "
             "base frozen: lora, adalora, ia3, adapter, prefix, prompt): "
             "none, int8 (per output channel), int4 (groups of "
             "--base-group-size rows) or nf4 (QLoRA's NormalFloat, blocks of "
             "--base-group-size); tailor-quantize's round-to-nearest, "
             "lm_head kept in float; the forward and backward dequantize"),
    cl::cat(category));
static cl::opt<int64_t> baseGroupSize(
    "base-group-size", cl::init(64),
    cl::desc("--quantize-base int4 / nf4: rows per scale (QLoRA's block "
             "size 64)"),
    cl::cat(category));
static cl::opt<std::string> recompute(
    "recompute", cl::init("none"),
    cl::desc("Activation recomputation (gradient checkpointing, "
             "tailor-recompute): none, sqrt (checkpoints every sqrt(n) of the "
             "forward's n cut points), every-k (--recompute-k), budget "
             "(--recompute-budget bytes of saved activations)"),
    cl::cat(category));
static cl::opt<int64_t> recomputeK("recompute-k", cl::init(2),
                                   cl::desc("--recompute=every-k: a "
                                            "checkpoint every k cut points"),
                                   cl::cat(category));
static cl::opt<int64_t> recomputeBudget(
    "recompute-budget", cl::init(0),
    cl::desc("--recompute=budget: bytes of saved activations to stay under"),
    cl::cat(category));
static cl::opt<bool> raiseOps(
    "raise", cl::init(true),
    cl::desc("Raise the model to the LLM ops (attention, norms, rotary, "
             "SwiGLU, linears with frozen weights) before differentiating: "
             "their fused forward kernels and gradient rules; false keeps "
             "the exported ONNX-level ops"),
    cl::cat(category));
static cl::opt<std::string> shapeMode(
    "shapes", cl::init("static"),
    cl::desc("static: compile the step for [batch, L] batches, L the longest "
             "training example (every batch padded to it): static kernels, a "
             "faster step and compile; dynamic: each batch padded to its own "
             "longest row, one step for every length"),
    cl::cat(category));
static cl::opt<int64_t> padId("pad-id", cl::init(0),
                              cl::desc("Token id of right padding"),
                              cl::cat(category));
static cl::opt<uint64_t> seed("seed", cl::init(42),
                              cl::desc("Seeds the data order and the "
                                       "adapters' initialisation"),
                              cl::cat(category));
static cl::opt<int64_t> evalEvery(
    "eval-every", cl::init(0),
    cl::desc("Evaluate every N optimizer steps (0: before and after only)"),
    cl::cat(category));
static cl::opt<int64_t> saveEvery(
    "save-every", cl::init(0),
    cl::desc("Write a checkpoint every N optimizer steps (0: at the end)"),
    cl::cat(category));
static cl::opt<int64_t> keepCheckpoints(
    "keep-checkpoints", cl::init(2),
    cl::desc("How many of the newest checkpoints to keep"), cl::cat(category));
static cl::opt<bool> resume(
    "resume", cl::init(false),
    cl::desc("Continue from the newest checkpoint in --output-dir (made with "
             "the same options)"),
    cl::cat(category));
static cl::opt<int64_t> logEvery(
    "log-every", cl::init(10),
    cl::desc("Print a line every N steps when stderr is not a terminal"),
    cl::cat(category));
static cl::opt<int> numThreads(
    "num-threads", cl::init(0),
    cl::desc("Threads per step (0: OMP_NUM_THREADS or all cores)"),
    cl::cat(category));

static cl::opt<std::string> lossKind(
    "loss", cl::init("sft"),
    cl::desc("The loss (tailor-loss): sft, kd (distillation from "
             "--teacher), kto (examples labelled desirable or not), or a "
             "preference loss on pair rows (dpo, robust, hinge, ipo: against "
             "the initial model's log-probabilities, computed once before "
             "training, as kto; simpo, orpo: no reference)"),
    cl::cat(optimCategory));
static cl::opt<double> beta("beta", cl::init(0.1),
                            cl::desc("Preference losses: beta"),
                            cl::cat(optimCategory));
static cl::opt<double> labelSmoothing(
    "label-smoothing", cl::init(0.0),
    cl::desc("dpo, robust, simpo: label smoothing"), cl::cat(optimCategory));
static cl::opt<double> simpoGamma("simpo-gamma", cl::init(0.5),
                                  cl::desc("simpo: the target margin gamma"),
                                  cl::cat(optimCategory));
static cl::opt<double>
    desirableWeight("desirable-weight", cl::init(1.0),
                    cl::desc("--loss kto: the weight of desirable examples"),
                    cl::cat(optimCategory));
static cl::opt<double> undesirableWeight(
    "undesirable-weight", cl::init(1.0),
    cl::desc("--loss kto: the weight of undesirable examples"),
    cl::cat(optimCategory));
static cl::opt<std::string> teacherPath(
    "teacher", cl::init(""),
    cl::desc("--loss kd: the teacher model (ONNX, the same vocabulary); "
             "its logits on each batch are computed live"),
    cl::value_desc("model.onnx"), cl::cat(optimCategory));
static cl::opt<double>
    temperature("temperature", cl::init(1.0),
                cl::desc("--loss kd: the softmax temperature"),
                cl::cat(optimCategory));
static cl::opt<std::string> kdDirection(
    "kd-direction", cl::init("forward"),
    cl::desc("--loss kd: forward (KL(teacher || student)) or reverse"),
    cl::cat(optimCategory));
static cl::opt<std::string> optimizer(
    "optimizer", cl::init("adamw"),
    cl::desc("adamw, sgd, or mezo (zeroth-order: two forward passes per "
             "step, no backward; SGD on the projected gradient)"),
    cl::cat(optimCategory));
static cl::opt<double>
    zoEps("zo-eps", cl::init(1e-3),
          cl::desc("--optimizer mezo: the perturbation scale epsilon"),
          cl::cat(optimCategory));
static cl::opt<double> lr("lr", cl::init(2e-4),
                          cl::desc("Peak learning rate"),
                          cl::cat(optimCategory));
static cl::opt<std::string> schedule(
    "schedule", cl::init("linear"),
    cl::desc("Learning-rate schedule after the warm-up: constant, linear "
             "(to 0) or cosine (to 0), as transformers defines them"),
    cl::cat(optimCategory));
static cl::opt<int64_t> warmup("warmup-steps", cl::init(0),
                               cl::desc("Linear warm-up steps"),
                               cl::cat(optimCategory));
static cl::opt<double> weightDecay("weight-decay", cl::init(0.0),
                                   cl::desc("Weight decay"),
                                   cl::cat(optimCategory));
static cl::opt<double> beta1("beta1", cl::init(0.9), cl::desc("AdamW beta1"),
                             cl::cat(optimCategory));
static cl::opt<double> beta2("beta2", cl::init(0.999),
                             cl::desc("AdamW beta2"), cl::cat(optimCategory));
static cl::opt<double> eps("eps", cl::init(1e-8), cl::desc("AdamW epsilon"),
                           cl::cat(optimCategory));
static cl::opt<double> momentum("momentum", cl::init(0.0),
                                cl::desc("SGD momentum"),
                                cl::cat(optimCategory));
static cl::opt<bool> nesterov("nesterov", cl::init(false),
                              cl::desc("SGD Nesterov momentum"),
                              cl::cat(optimCategory));
static cl::opt<double> maxGradNorm(
    "max-grad-norm", cl::init(1.0),
    cl::desc("Clip gradients to this global norm (0: no clipping)"),
    cl::cat(optimCategory));

namespace {
std::string printed(const char *spec, double v) {
  char text[64];
  std::snprintf(text, sizeof text, spec, v);
  return text;
}

int fail(const llvm::Twine &message) {
  llvm::errs() << "tailor-train: " << message << "\n";
  return 1;
}

/// The options that shape the loss sequence: a resumed run must match.
llvm::json::Object trajectoryConfig() {
  llvm::json::Array targets, excluded;
  for (const std::string &t : target)
    targets.push_back(t);
  for (const std::string &t : exclude)
    excluded.push_back(t);
  llvm::json::Array ff;
  for (const std::string &t : feedforward)
    ff.push_back(t);
  return llvm::json::Object{
      {"data", dataPath.getValue()},
      {"method", method.getValue()},
      {"lora-r", loraR.getValue()},
      {"lora-alpha", loraAlpha.getValue()},
      {"rslora", rslora.getValue()},
      {"dora", dora.getValue()},
      {"lora-fa", loraFA.getValue()},
      {"target", std::move(targets)},
      {"feedforward", std::move(ff)},
      {"adapter-size", adapterSize.getValue()},
      {"adapter-placement", adapterPlacement.getValue()},
      {"adapter-activation", adapterActivation.getValue()},
      {"adapter-scaling", adapterScaling.getValue()},
      {"virtual-tokens", virtualTokens.getValue()},
      {"adalora-init-r", adaInitR.getValue()},
      {"adalora-target-r", adaTargetR.getValue()},
      {"adalora-tinit", adaTinit.getValue()},
      {"adalora-tfinal", adaTfinal.getValue()},
      {"adalora-delta-t", adaDeltaT.getValue()},
      {"adalora-beta1", adaBeta1.getValue()},
      {"adalora-beta2", adaBeta2.getValue()},
      {"orth-reg-weight", orthRegWeight.getValue()},
      {"exclude", std::move(excluded)},
      {"steps", steps.getValue()},
      {"epochs", epochs.getValue()},
      {"batch-size", batchSize.getValue()},
      {"grad-accum", gradAccum.getValue()},
      {"max-length", maxLength.getValue()},
      {"shapes", shapeMode.getValue()},
      {"raise", raiseOps.getValue()},
      {"qat", qat.getValue()},
      {"qat-group-size", qatGroupSize.getValue()},
      {"quantize-base", quantizeBase.getValue()},
      {"base-group-size", baseGroupSize.getValue()},
      {"pad-id", padId.getValue()},
      {"seed", int64_t(seed.getValue())},
      {"tokenizer", tokenizer.getValue()},
      {"spm-model", spmModel.getValue()},
      {"optimizer", optimizer.getValue()},
      {"zo-eps", zoEps.getValue()},
      {"loss", lossKind.getValue()},
      {"teacher", teacherPath.getValue()},
      {"desirable-weight", desirableWeight.getValue()},
      {"undesirable-weight", undesirableWeight.getValue()},
      {"temperature", temperature.getValue()},
      {"kd-direction", kdDirection.getValue()},
      {"beta", beta.getValue()},
      {"label-smoothing", labelSmoothing.getValue()},
      {"simpo-gamma", simpoGamma.getValue()},
      {"lr", lr.getValue()},
      {"schedule", schedule.getValue()},
      {"warmup-steps", warmup.getValue()},
      {"weight-decay", weightDecay.getValue()},
      {"beta1", beta1.getValue()},
      {"beta2", beta2.getValue()},
      {"eps", eps.getValue()},
      {"momentum", momentum.getValue()},
      {"nesterov", nesterov.getValue()},
      {"max-grad-norm", maxGradNorm.getValue()}};
}

/// Inserts --config's entries before the command line's (which win: an
/// option given on both is taken from the command line).
llvm::Error expandConfig(std::vector<std::string> &args) {
  std::string path;
  for (size_t i = 1; i < args.size(); ++i) {
    StringRef a(args[i]);
    if (a.consume_front("--config=") || a.consume_front("-config="))
      path = a.str();
    else if ((a == "--config" || a == "-config") && i + 1 < args.size())
      path = args[i + 1];
  }
  if (path.empty())
    return llvm::Error::success();
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer)
    return llvm::createStringError(buffer.getError(),
                                   path + ": " + buffer.getError().message());
  auto value = llvm::json::parse((*buffer)->getBuffer());
  if (!value)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   path + ": " +
                                       llvm::toString(value.takeError()));
  const llvm::json::Object *o = value->getAsObject();
  if (!o)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   path + ": expected a JSON object");
  auto given = [&](StringRef key) {
    for (size_t i = 1; i < args.size(); ++i) {
      StringRef a(args[i]);
      a = a.drop_while([](char c) { return c == '-'; });
      if (a == key || a.starts_with((key + "=").str()))
        return true;
    }
    return false;
  };
  std::vector<std::string> extra;
  for (const auto &[key, v] : *o) {
    if (key == "config" || given(key))
      continue;
    std::string text;
    if (auto s = v.getAsString())
      text = s->str();
    else if (auto b = v.getAsBoolean())
      text = *b ? "true" : "false";
    else if (auto i = v.getAsInteger())
      text = std::to_string(*i);
    else if (auto d = v.getAsNumber())
      text = printed("%.17g", *d);
    else if (auto *a = v.getAsArray()) {
      for (const llvm::json::Value &e : *a) {
        auto s = e.getAsString();
        if (!s)
          return llvm::createStringError(
              llvm::inconvertibleErrorCode(),
              path + ": \"" + key.str() + "\": expected strings");
        text += (text.empty() ? "" : ",") + s->str();
      }
    } else {
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     path + ": \"" + key.str() +
                                         "\": unsupported value");
    }
    extra.push_back("--" + key.str() + "=" + text);
  }
  args.insert(args.begin() + 1, extra.begin(), extra.end());
  return llvm::Error::success();
}

/// A tensor the host keeps between steps (a parameter or optimizer state).
struct Carried {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;
  bool param = false, transposed = false;
  /// A frozen input with an initial value (LoRA-FA's A): fed, saved with
  /// the adapter, never updated.
  bool frozen = false;
};

/// Prefix tuning: the (layer, 0 key / 1 value) of a learned prefix named
/// after its cache input ("prefix.past_key.3", "prefix.past_key_values.3
/// .value"): the numeric part, and the part that is (or ends in) key or
/// value.
std::optional<std::pair<int64_t, int>> prefixSlot(StringRef name) {
  SmallVector<StringRef> parts;
  name.split(parts, '.');
  int64_t layer = -1;
  int kind = -1;
  for (StringRef p : parts) {
    int64_t n;
    if (!p.getAsInteger(10, n))
      layer = n;
    else if (p == "key" || p.ends_with("_key"))
      kind = 0;
    else if (p == "value" || p.ends_with("_value"))
      kind = 1;
  }
  if (layer < 0 || kind < 0)
    return std::nullopt;
  return std::make_pair(layer, kind);
}

/// SplitMix64 uniform doubles in [0, 1).
struct Random {
  uint64_t state;
  double next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return double(z >> 11) * 0x1.0p-53;
  }
};

/// Standard normal draws (Box-Muller over SplitMix64).
struct Gaussian {
  Random rng;
  std::optional<double> spare;
  double next() {
    if (spare) {
      double v = *spare;
      spare.reset();
      return v;
    }
    double u1 = 1.0 - rng.next(), u2 = rng.next();
    double r = std::sqrt(-2.0 * std::log(u1));
    spare = r * std::sin(2 * M_PI * u2);
    return r * std::cos(2 * M_PI * u2);
  }
};

/// The trainable (and frozen, initialised) arguments of the entry and
/// their initial values.
llvm::Expected<std::vector<Carried>> initialParameters(ModuleOp module) {
  func::FuncOp fn = findEntry(module);
  std::vector<Carried> params;
  if (!fn)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "the model has no entry function");
  for (unsigned i = 0; i < fn.getNumArguments(); ++i) {
    bool frozen = bool(fn.getArgAttr(i, "tailor.frozen"));
    if (!fn.getArgAttr(i, "tailor.trainable") && !frozen)
      continue;
    Carried c;
    c.param = true;
    c.frozen = frozen;
    c.transposed = bool(fn.getArgAttr(i, "tailor.transposed"));
    if (auto n = fn.getArgAttrOfType<StringAttr>(i, "onnx.name"))
      c.name = n.str();
    auto type = cast<RankedTensorType>(fn.getArgument(i).getType());
    c.shape.assign(type.getShape().begin(), type.getShape().end());
    int64_t n = type.getNumElements();
    Attribute init = fn.getArgAttr(i, "tailor.init");
    Random rng{seed * 0x2545F4914F6CDD1Dull + i};
    if (auto kind = dyn_cast_or_null<StringAttr>(init)) {
      c.data.assign(n, 0.0f);
      if (kind.getValue() == "kaiming_uniform") {
        // nn.init.kaiming_uniform_(a=sqrt(5)): U(-1/sqrt(fan_in), ..).
        double bound = 1.0 / std::sqrt(double(c.shape.back()));
        for (float &v : c.data)
          v = float((2 * rng.next() - 1) * bound);
      } else if (kind.getValue() == "normal") {
        // nn.Embedding's default: N(0, 1) (prefix and prompt tuning);
        // AdaLoRA's factors: std 0.02 (tailor.init_std).
        double std = 1.0;
        if (auto s = fn.getArgAttrOfType<FloatAttr>(i, "tailor.init_std"))
          std = s.getValueAsDouble();
        Gaussian z{rng, std::nullopt};
        for (float &v : c.data)
          v = float(std * z.next());
      } else if (kind.getValue() != "zeros") {
        return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                       "parameter '" + c.name +
                                           "': unknown initialisation '" +
                                           kind.getValue().str() + "'");
      }
    } else if (auto res = dyn_cast_or_null<DenseF32ResourceElementsAttr>(init)) {
      auto data = res.tryGetAsArrayRef();
      if (!data)
        return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                       "parameter '" + c.name +
                                           "': its initial value is missing");
      c.data.assign(data->begin(), data->end());
    } else if (auto dense = dyn_cast_or_null<DenseFPElementsAttr>(init)) {
      if (!dense.getElementType().isF32())
        return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                       "parameter '" + c.name +
                                           "' is not float32");
      for (const APFloat &v : dense.getValues<APFloat>())
        c.data.push_back(v.convertToFloat());
    } else {
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "parameter '" + c.name +
                                         "' has no initial value");
    }
    if (int64_t(c.data.size()) != n)
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "parameter '" + c.name +
                                         "': initial value of the wrong size");
    params.push_back(std::move(c));
  }
  if (params.empty())
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "nothing to train (no weight matches)");
  return params;
}

/// A compiled function and its inputs bound by name.
struct Compiled {
  std::unique_ptr<JitModel> jit;
  tailor_model *model = nullptr;
  std::vector<tailor_tensor_info> inputs, outputs;
  ~Compiled() {
    if (model)
      tailor_model_unload(model);
  }
  int32_t output(StringRef name) const {
    for (size_t i = 0; i < outputs.size(); ++i)
      if (name == outputs[i].name)
        return i;
    return -1;
  }
};

llvm::Expected<std::unique_ptr<Compiled>> compile(ModuleOp module,
                                                  const TargetOptions &opts) {
  auto jit = JitModel::compile(module, opts, /*raise=*/true);
  if (failed(jit))
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "compilation failed");
  auto c = std::make_unique<Compiled>();
  c->jit = std::move(*jit);
  if (tailor_model_from_abi(c->jit->abi(), &c->model) != TAILOR_OK)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   tailor_last_error());
  if (numThreads > 0 &&
      tailor_model_set_num_threads(c->model, numThreads) != TAILOR_OK)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   tailor_last_error());
  for (int32_t i = 0; i < tailor_model_num_inputs(c->model); ++i) {
    tailor_tensor_info info;
    tailor_model_input_info(c->model, i, &info);
    c->inputs.push_back(info);
  }
  for (int32_t i = 0; i < tailor_model_num_outputs(c->model); ++i) {
    tailor_tensor_info info;
    tailor_model_output_info(c->model, i, &info);
    c->outputs.push_back(info);
  }
  return c;
}

/// The feeds of one run.
struct Feeds {
  const Batch *batch = nullptr;
  /// The reference log-probabilities of the batch's rows (DPO family).
  const std::vector<float> *refLogps = nullptr;
  /// The teacher's logits [rows, length, vocabulary] (--loss kd).
  const std::vector<float> *teacher = nullptr;
  int64_t vocab = 0;
  /// KTO: whether each example of the batch is desirable.
  const std::vector<uint8_t> *desirable = nullptr;
  float lr = 0, step = 0;
  bool apply = true;
  std::map<std::string, Carried *> carried;
};

using Result = std::unique_ptr<tailor_result, void (*)(tailor_result *)>;

llvm::Expected<Result> run(const Compiled &c, const Feeds &f) {
  std::vector<tailor_tensor> in(c.inputs.size());
  std::vector<std::vector<int64_t>> shapes(c.inputs.size());
  static const float dummy = 0;
  uint8_t apply = f.apply;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const tailor_tensor_info &info = c.inputs[i];
    StringRef name(info.name);
    tailor_tensor &t = in[i];
    t.dtype = info.dtype;
    t.strides = nullptr;
    std::vector<int64_t> &shape = shapes[i];
    if (name == "input_ids" || name == "labels") {
      shape = {f.batch->rows, f.batch->length};
      t.data = const_cast<int64_t *>(name == "labels" ? f.batch->labels.data()
                                                      : f.batch->ids.data());
    } else if (name == "lr" || name == "step") {
      t.data = const_cast<float *>(name == "lr" ? &f.lr : &f.step);
    } else if (name == "apply_update") {
      t.data = &apply;
    } else if (name == "desirable" && f.desirable) {
      shape = {int64_t(f.desirable->size())};
      t.data = const_cast<uint8_t *>(f.desirable->data());
    } else if (name == "teacher_logits" && f.teacher) {
      shape = {f.batch->rows, f.batch->length, f.vocab};
      t.data = const_cast<float *>(f.teacher->data());
    } else if (name == "ref_logps" && f.refLogps) {
      shape = {f.batch->rows};
      t.data = const_cast<float *>(f.refLogps->data());
    } else if (auto it = f.carried.find(name.str()); it != f.carried.end()) {
      shape = it->second->shape;
      t.data = it->second->data.data();
    } else if (name.starts_with("past") && info.rank == 4 &&
               info.dtype == TAILOR_FLOAT32) {
      // A KV-cache export: an empty past.
      shape.assign(info.shape, info.shape + 4);
      shape[0] = f.batch->rows;
      shape[2] = 0;
      if (shape[1] < 0 || shape[3] < 0)
        return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                       "input '" + name.str() +
                                           "': the cache's head sizes are "
                                           "not static");
      t.data = const_cast<float *>(&dummy);
    } else {
      return llvm::createStringError(
          llvm::inconvertibleErrorCode(),
          "the model has an input '" + name.str() +
              "' that tailor-train does not know how to feed (it feeds "
              "input_ids, labels and empty past_* caches)");
    }
    t.rank = info.rank;
    if (shape.empty() && info.rank != 0)
      shape.assign(info.shape, info.shape + info.rank);
    t.shape = shape.data();
  }
  tailor_result *r = nullptr;
  if (tailor_model_run(c.model, in.data(), in.size(), &r) != TAILOR_OK)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   tailor_last_error());
  return Result(r, tailor_result_free);
}

/// --loss kd: the compiled teacher (owned by main, so that it is freed
/// before the JIT's globals) and the vocabulary of its logits.
Compiled *teacherModel = nullptr;
int64_t teacherVocab = 0;

/// The teacher's logits on batch `b` into `out` ([rows, length, vocab]).
llvm::Error teacherLogits(const Batch &b, std::vector<float> &out) {
  Feeds f;
  f.batch = &b;
  auto r = run(*teacherModel, f);
  if (!r)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "the teacher: " +
                                       llvm::toString(r.takeError()));
  int32_t index = teacherModel->output("logits");
  tailor_tensor view;
  if (tailor_result_output(r->get(), index < 0 ? 0 : index, &view) != TAILOR_OK)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   tailor_last_error());
  if (view.rank != 3 || view.shape[0] != b.rows || view.shape[1] != b.length ||
      view.shape[2] != teacherVocab || view.dtype != TAILOR_FLOAT32)
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "the teacher's logits are not float32 [" + llvm::Twine(b.rows) + ", " +
            llvm::Twine(b.length) + ", " + llvm::Twine(teacherVocab) + "]");
  const float *data = static_cast<const float *>(view.data);
  out.assign(data, data + b.rows * b.length * teacherVocab);
  return llvm::Error::success();
}

float scalarOutput(const tailor_result *r, int32_t index) {
  tailor_tensor view;
  if (index < 0 || tailor_result_output(r, index, &view) != TAILOR_OK)
    return NAN;
  return *static_cast<const float *>(view.data);
}

bool paired() { return lossKind != "sft" && lossKind != "kd"; }

/// Examples of a dataset: rows, or pairs of rows for preference losses.
int64_t examples(const Dataset &data) {
  return paired() ? data.rows.size() / 2 : data.rows.size();
}

/// The dataset rows of examples `indices` (chosen rows, then rejected).
std::vector<int64_t> batchRows(const Dataset &data,
                               const std::vector<int64_t> &indices) {
  std::vector<int64_t> rows(indices);
  if (paired())
    for (int64_t i : indices)
      rows.push_back(i + examples(data));
  return rows;
}

std::vector<float> gather(const std::vector<float> &values,
                          const std::vector<int64_t> &rows) {
  std::vector<float> out;
  for (int64_t r : rows)
    out.push_back(values.empty() ? 0.0f : values[r]);
  return out;
}

/// KTO: the desirability of examples `indices` (empty for other losses).
std::vector<uint8_t> desirableOf(const Dataset &data,
                                 const std::vector<int64_t> &indices) {
  std::vector<uint8_t> out;
  if (!data.desirable.empty())
    for (int64_t i : indices)
      out.push_back(data.desirable[i]);
  return out;
}

struct Evaluation {
  double loss = 0;
  std::optional<double> margin, accuracy;
  /// Per dataset row: its log-probability (DPO family).
  std::vector<float> logps;
};

struct ZerothOrder {
  double loss = 0, projected = 0;
  int64_t peak = 0;
};

/// One MeZO step (arXiv 2305.17333; MeZO's zo_step and zo_update): with
/// z ~ N(0, I) drawn from the step's seed (never stored: drawn again each
/// time), L+ = L(theta + eps z), L- = L(theta - eps z), theta restored,
/// g = (L+ - L-) / 2 eps, theta -= lr (g z + wd theta) (no weight decay on
/// biases and vectors). The loss reported is L+, as MeZO logs it.
llvm::Expected<ZerothOrder>
mezoStep(const Compiled &c, const Feeds &f,
         std::vector<std::unique_ptr<Carried>> &carried, int64_t step) {
  uint64_t stepSeed = (seed + 1) * 0x9E3779B97F4A7C15ull + uint64_t(step);
  auto forEach = [&](function_ref<void(Carried &, float &, double)> fn) {
    for (size_t i = 0; i < carried.size(); ++i) {
      Carried &p = *carried[i];
      if (!p.param || p.frozen)
        continue;
      Gaussian z{Random{stepSeed ^ (uint64_t(i + 1) * 0xD1B54A32D192ED03ull)},
                 std::nullopt};
      for (float &v : p.data)
        fn(p, v, z.next());
    }
  };
  auto perturb = [&](double scale) {
    forEach([&](Carried &, float &v, double z) { v = float(v + scale * z); });
  };
  ZerothOrder out;
  float losses[2];
  for (int k = 0; k < 2; ++k) {
    perturb(k == 0 ? zoEps : -2 * zoEps);
    resetBufferStats();
    auto r = run(c, f);
    out.peak = std::max(out.peak, bufferStats().peak);
    if (!r) {
      perturb(k == 0 ? -zoEps : zoEps); // theta as it was
      return r.takeError();
    }
    losses[k] = scalarOutput(r->get(), c.output("loss"));
  }
  perturb(zoEps);
  out.loss = losses[0];
  out.projected = (double(losses[0]) - losses[1]) / (2 * zoEps);
  if (!std::isfinite(losses[0]) || !std::isfinite(losses[1]) ||
      !std::isfinite(out.projected))
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "the perturbed losses are not finite (L+ " + printed("%g", losses[0]) +
            ", L- " + printed("%g", losses[1]) +
            "): lower --zo-eps or --lr; the parameters are left as they "
            "were");
  double g = out.projected, rate = f.lr;
  forEach([&](Carried &p, float &v, double z) {
    bool decay = p.shape.size() >= 2 && !StringRef(p.name).contains("bias");
    v = float(v - rate * (g * z + (decay ? weightDecay * v : 0.0)));
  });
  return out;
}

/// Runs `c` over `data` in batches: the mean loss (weighted by predicted
/// tokens, or by pairs), and with rewards results the mean margin, the
/// accuracy and each row's log-probability.
llvm::Expected<Evaluation> evaluate(const Compiled &c, const Dataset &data,
                                    const std::vector<float> &ref,
                                    std::map<std::string, Carried *> &carried) {
  Evaluation e;
  double total = 0, count = 0, margin = 0, wins = 0;
  int32_t lossIndex = c.output("loss");
  int32_t chosenIndex = c.output("chosen_rewards");
  int32_t rejectedIndex = c.output("rejected_rewards");
  int32_t logpsIndex = c.output("logps");
  // The held-out loss is the task's: without the regularisers (aux_loss.*,
  // AdaLoRA's orthogonality) the training loss includes.
  std::vector<int32_t> auxIndices;
  for (size_t i = 0; i < c.outputs.size(); ++i)
    if (StringRef(c.outputs[i].name).starts_with("aux_loss."))
      auxIndices.push_back(i);
  int64_t n = examples(data);
  e.logps.assign(data.rows.size(), 0.0f);
  for (int64_t r0 = 0; r0 < n; r0 += batchSize) {
    std::vector<int64_t> indices;
    for (int64_t r = r0; r < std::min<int64_t>(r0 + batchSize, n); ++r)
      indices.push_back(r);
    std::vector<int64_t> rows = batchRows(data, indices);
    Batch b = makeBatch(data, rows, padId);
    std::vector<float> refs = gather(ref, rows);
    Feeds f;
    f.batch = &b;
    f.refLogps = &refs;
    f.carried = carried;
    std::vector<uint8_t> desirable = desirableOf(data, indices);
    f.desirable = &desirable;
    std::vector<float> teacher;
    if (teacherModel) {
      if (auto err = teacherLogits(b, teacher))
        return std::move(err);
      f.teacher = &teacher;
      f.vocab = teacherVocab;
    }
    auto result = run(c, f);
    if (!result)
      return result.takeError();
    double weight = paired() ? double(indices.size()) : double(b.targets);
    double loss = scalarOutput(result->get(), lossIndex);
    for (int32_t i : auxIndices)
      loss -= scalarOutput(result->get(), i);
    total += loss * weight;
    count += weight;
    if (logpsIndex >= 0 && chosenIndex < 0) {
      // KTO: the rows' log-probabilities (examples, then KL rows).
      tailor_tensor logps;
      if (tailor_result_output(result->get(), logpsIndex, &logps) != TAILOR_OK)
        return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                       tailor_last_error());
      const float *lp = static_cast<const float *>(logps.data);
      int64_t b = indices.size();
      for (int64_t i = 0; i < b; ++i) {
        e.logps[indices[i]] = lp[i];
        e.logps[indices[i] + n] = lp[i + b];
      }
    }
    if (chosenIndex >= 0 && rejectedIndex >= 0 && logpsIndex >= 0) {
      tailor_tensor chosen, rejected, logps;
      if (tailor_result_output(result->get(), chosenIndex, &chosen) !=
              TAILOR_OK ||
          tailor_result_output(result->get(), rejectedIndex, &rejected) !=
              TAILOR_OK ||
          tailor_result_output(result->get(), logpsIndex, &logps) != TAILOR_OK)
        return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                       tailor_last_error());
      const float *pc = static_cast<const float *>(chosen.data);
      const float *pr = static_cast<const float *>(rejected.data);
      const float *lp = static_cast<const float *>(logps.data);
      int64_t b = indices.size();
      for (int64_t i = 0; i < b; ++i) {
        margin += double(pc[i]) - pr[i];
        wins += pc[i] > pr[i];
        e.logps[indices[i]] = lp[i];
        e.logps[indices[i] + n] = lp[i + b];
      }
    }
  }
  e.loss = count ? total / count : NAN;
  if (chosenIndex >= 0 && n) {
    e.margin = margin / n;
    e.accuracy = wins / n;
  }
  return e;
}

/// checkpoint-<step>.safetensors files in `dir`, by step.
std::map<int64_t, std::string> checkpoints(StringRef dir) {
  std::map<int64_t, std::string> found;
  std::error_code ec;
  for (llvm::sys::fs::directory_iterator it(dir, ec), end; it != end && !ec;
       it.increment(ec)) {
    StringRef file = llvm::sys::path::filename(it->path());
    int64_t step;
    if (file.consume_front("checkpoint-") &&
        file.consume_back(".safetensors") && !file.getAsInteger(10, step))
      found[step] = it->path();
  }
  return found;
}

std::string formatTime(double seconds) {
  int64_t s = int64_t(seconds + 0.5);
  if (s >= 3600)
    return llvm::formatv("{0}:{1:2}:{2:2}", s / 3600, (s / 60) % 60, s % 60)
        .str();
  return llvm::formatv("{0}:{1:2}", s / 60, s % 60).str();
}

llvm::Error writeText(StringRef path, StringRef text) {
  return llvm::writeToOutput(path, [&](llvm::raw_ostream &os) {
    os << text;
    return llvm::Error::success();
  });
}
} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  std::vector<std::string> args(argv, argv + argc);
  if (llvm::Error e = expandConfig(args))
    return fail(llvm::toString(std::move(e)));
  std::vector<const char *> argvExpanded;
  for (const std::string &a : args)
    argvExpanded.push_back(a.c_str());
  cl::HideUnrelatedOptions({&category, &optimCategory});
  cl::ParseCommandLineOptions(
      argvExpanded.size(), argvExpanded.data(),
      "tailor-train: fine-tune a language model with a compiled training "
      "step.\n\n"
      "The step (forward, the causal-LM loss, its gradient and the "
      "optimizer's\nupdate) is compiled once for this CPU; the loop feeds it "
      "batches. Writes\n<output-dir>/loss.csv, loss.svg, "
      "checkpoint-<step>.safetensors and the\nresult: adapter/ (LoRA and "
      "(IA)3 in Hugging Face PEFT's format, LoRA\nmerges with tailor-compile "
      "--lora-adapter; bottleneck adapters) or\nmodel.safetensors (full, "
      "bitfit).\n\nExample:\n"
      "  tailor-train model.onnx --data train.jsonl --eval-data eval.jsonl \\\n"
      "      --method lora --lora-r 8 --target 'q$,v$' --lr 1e-3 --steps 200 "
      "-o run\n");

  // Options.
  auto sched = parseSchedule(schedule);
  if (!sched)
    return fail("--schedule must be constant, linear or cosine, not '" +
                schedule + "'");
  if (!llvm::is_contained({"lora", "adalora", "full", "bitfit", "ia3",
                           "adapter", "prefix", "prompt"},
                          StringRef(method)))
    return fail("--method must be lora, adalora, ia3, adapter, prefix, "
                "prompt, full or bitfit, not '" +
                method + "'");
  if (optimizer != "adamw" && optimizer != "sgd" && optimizer != "mezo")
    return fail("--optimizer must be adamw, sgd or mezo, not '" + optimizer +
                "'");
  bool mezo = optimizer == "mezo";
  if (mezo && gradAccum != 1)
    return fail("--optimizer mezo takes no --grad-accum (MeZO does not "
                "accumulate)");
  if (mezo && !(zoEps > 0))
    return fail("--zo-eps must be positive");
  if (mezo && method == "adalora")
    return fail("--method adalora reallocates ranks by gradient importance: "
                "it needs a gradient optimizer, not --optimizer mezo");
  if (method == "adalora" && (dora || rslora || loraFA))
    return fail("--method adalora takes no --dora, --rslora or --lora-fa");
  if (method == "adalora" && !(orthRegWeight > 0))
    return fail("--orth-reg-weight must be positive (PEFT's AdaLoRA refuses "
                "0)");
  if (mezo && recompute != "none")
    return fail("--recompute has nothing to do with --optimizer mezo (it "
                "keeps no activations for a backward pass)");
  static const char *losses[] = {"sft",   "kd",  "kto",   "dpo", "robust",
                                 "hinge", "ipo", "simpo", "orpo"};
  if (!llvm::is_contained(losses, StringRef(lossKind)))
    return fail("--loss must be sft, kd, kto, dpo, robust, hinge, ipo, simpo "
                "or orpo, not '" +
                lossKind + "'");
  if ((lossKind == "kd") != !teacherPath.empty())
    return fail("--loss kd and --teacher go together (the teacher's "
                "logits are what the student learns)");
  if (!(temperature > 0))
    return fail("--temperature must be positive");
  if (kdDirection != "forward" && kdDirection != "reverse")
    return fail("--kd-direction must be forward or reverse, not '" +
                kdDirection + "'");
  if (qat != "none" && qat != "int8" && qat != "int4")
    return fail("--qat must be none, int8 or int4, not '" + qat + "'");
  if (adapterSize < 1)
    return fail("--adapter-size must be at least 1");
  if (virtualTokens < 1)
    return fail("--virtual-tokens must be at least 1");
  if (quantizeBase != "none" && quantizeBase != "int8" &&
      quantizeBase != "int4" && quantizeBase != "nf4")
    return fail("--quantize-base must be none, int8, int4 or nf4, not '" +
                quantizeBase + "'");
  if (quantizeBase != "none" && (method == "full" || method == "bitfit"))
    return fail(
        "--quantize-base freezes the base weights: use it with a "
        "PEFT method (lora, ia3, adapter, prefix, prompt), not --method " +
        method);
  if (quantizeBase != "none" && !raiseOps)
    return fail("--quantize-base quantizes the raised linears: it needs "
                "--raise");
  if (quantizeBase == "nf4" && (baseGroupSize < 2 || baseGroupSize % 2))
    return fail("--base-group-size must be even for --quantize-base nf4 (two "
                "codes per byte)");
  if (quantizeBase == "int4" && baseGroupSize < 1)
    return fail("--base-group-size must be at least 1");
  if (adapterPlacement != "serial" && adapterPlacement != "parallel")
    return fail("--adapter-placement must be serial or parallel, not '" +
                adapterPlacement + "'");
  if (!llvm::is_contained({"relu", "gelu", "silu", "tanh", "none"},
                          StringRef(adapterActivation)))
    return fail("--adapter-activation must be relu, gelu, silu, tanh or "
                "none, not '" +
                adapterActivation + "'");
  if ((method == "prefix" || method == "prompt") &&
      (paired() || lossKind == "kto" || lossKind == "kd"))
    return fail("--method " + method + " trains with --loss sft only (the "
                "reference model of the preference losses and KTO, and a "
                "distillation teacher, would see the virtual tokens)");
  if (method == "prompt" && maxLength <= virtualTokens + 1)
    return fail("--max-length must exceed --virtual-tokens + 1 (the "
                "prompt's placeholders count against it)");
  if (quantizeBase != "none" && dora)
    return fail("--dora with --quantize-base is not supported (DoRA's norm "
                "would read the float weights the base quantization "
                "replaces)");
  if (!std::isfinite(adapterScaling))
    return fail("--adapter-scaling must be a finite number");
  if (qat != "none" && method != "full")
    return fail("--qat trains the weights themselves: use it with --method "
                "full");
  if (recompute != "none" && recompute != "sqrt" && recompute != "every-k" &&
      recompute != "budget")
    return fail("--recompute must be none, sqrt, every-k or budget, not '" +
                recompute + "'");
  if (recomputeK < 1 || (recompute == "budget" && recomputeBudget <= 0))
    return fail("--recompute-k must be at least 1 and --recompute=budget "
                "needs --recompute-budget > 0");
  if (shapeMode != "static" && shapeMode != "dynamic")
    return fail("--shapes must be static or dynamic, not '" + shapeMode + "'");
  if (tokenizer != "none" && tokenizer != "bytes" &&
      tokenizer != "sentencepiece")
    return fail("--tokenizer must be none, bytes or sentencepiece, not '" +
                tokenizer + "'");
  if ((tokenizer == "sentencepiece") != !spmModel.empty())
    return fail("--tokenizer sentencepiece and --spm-model go together");
  if (batchSize < 1 || gradAccum < 1 || maxLength < 2 || steps < 0 ||
      epochs < 1 || warmup < 0 || evalEvery < 0 || saveEvery < 0 ||
      keepCheckpoints < 1 || logEvery < 1)
    return fail("--batch-size, --grad-accum, --epochs, --keep-checkpoints "
                "and --log-every must be at least 1, --max-length at least "
                "2, and --steps, --warmup-steps, --eval-every, --save-every "
                "not negative");
  if (!(lr > 0))
    return fail("--lr must be positive");

  // --resume: the newest checkpoint, checked before the compilation.
  // (--dump-tokens writes no run: no output directory.)
  if (dumpTokens.empty())
    if (std::error_code ec = llvm::sys::fs::create_directories(outputDir))
      return fail(outputDir + ": " + ec.message());
  llvm::json::Object config = trajectoryConfig();
  std::string configText =
      llvm::formatv("{0}", llvm::json::Value(llvm::json::Object(config)));
  std::optional<safetensors::File> checkpoint;
  std::string checkpointPath;
  std::vector<LogRow> log;
  std::optional<double> baseEval;
  int64_t startStep = 0;
  if (!resume && dumpTokens.empty() && !checkpoints(outputDir).empty())
    return fail(outputDir + " holds checkpoints of an earlier run: continue "
                            "it with --resume or choose another --output-dir");
  if (resume) {
    auto found = checkpoints(outputDir);
    if (found.empty())
      return fail("--resume: no checkpoint-<step>.safetensors in " +
                  outputDir);
    checkpointPath = found.rbegin()->second;
    auto file = safetensors::File::read(checkpointPath);
    if (!file)
      return fail(llvm::toString(file.takeError()));
    checkpoint = std::move(*file);
    const auto &meta = checkpoint->metadata();
    auto get = [&](StringRef key) -> std::string {
      auto it = meta.find(key.str());
      return it == meta.end() ? "" : it->second;
    };
    const std::string &path = checkpointPath;
    if (get("format") != "tailor-train checkpoint 1")
      return fail(path + ": not a tailor-train checkpoint");
    // Checkpoints from before an option existed ran with its old
    // behaviour.
    auto saved = llvm::json::parse(get("config"));
    if (saved && saved->getAsObject()) {
      llvm::json::Object &o = *saved->getAsObject();
      for (auto [key, old] :
           {std::pair<StringRef, llvm::json::Value>{"shapes", "dynamic"},
            {"qat", "none"},
            {"qat-group-size", 128},
            {"raise", false},
            {"feedforward", llvm::json::Array()},
            {"adapter-size", 64},
            {"adapter-placement", "serial"},
            {"adapter-activation", "relu"},
            {"adapter-scaling", 1.0},
            {"zo-eps", 1e-3},
            {"virtual-tokens", 20},
            {"quantize-base", "none"},
            {"base-group-size", 64},
            {"teacher", ""},
            {"temperature", 1.0},
            {"kd-direction", "forward"},
            {"spm-model", ""},
            {"desirable-weight", 1.0},
            {"undesirable-weight", 1.0},
            {"adalora-init-r", 12},
            {"adalora-target-r", 8},
            {"adalora-tinit", 0},
            {"adalora-tfinal", 0},
            {"adalora-delta-t", 1},
            {"adalora-beta1", 0.85},
            {"adalora-beta2", 0.85},
            {"orth-reg-weight", 0.5}})
        if (!o.get(key))
          o[key] = old;
    }
    bool same = saved && saved->getAsObject() &&
                *saved == llvm::json::Value(llvm::json::Object(config));
    if (!same) {
      // Name the options that differ.
      auto show = [](const llvm::json::Value *v) -> std::string {
        if (!v)
          return "unset";
        if (auto d = v->getAsNumber(); d && !v->getAsInteger())
          return printed("%g", *d);
        return llvm::formatv("{0}", *v).str();
      };
      std::string diff;
      if (saved && saved->getAsObject()) {
        for (const auto &[key, v] : config) {
          const llvm::json::Value *old = saved->getAsObject()->get(key);
          if (!old || *old != v)
            diff += " --" + key.str() + " was " + show(old) + ", now " +
                    show(&v) + ";";
        }
      } else {
        llvm::consumeError(saved.takeError());
      }
      return fail(path + ": made with other options:" + diff +
                  " resume with the same ones");
    }
    if (StringRef(get("step")).getAsInteger(10, startStep) || startStep < 0)
      return fail(path + ": bad step in its metadata");
    auto rows = parseLossCsv(get("log"));
    if (!rows)
      return fail(path + ": " + llvm::toString(rows.takeError()));
    log = std::move(*rows);
    double base;
    if (!StringRef(get("base_eval_loss")).getAsDouble(base))
      baseEval = base;
  }

  DialectRegistry registry;
  registerToolEnvironment(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  context.printOpOnDiagnostic(false);
  using Clock = std::chrono::steady_clock;
  auto t0 = Clock::now();
  auto since = [](Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  };

  // Import, make weights trainable, add the loss.
  llvm::errs() << "tailor-train: importing " << modelPath << "\n";
  OwningOpRef<ModuleOp> module = importOnnxFile(modelPath, &context);
  if (!module)
    return 1;
  CompileOptions compileOptions;
  compileOptions.raise = false; // every ONNX-level op has a gradient rule
  if (failed(lowerModule(*module, compileOptions, CompilePhase::Import,
                         CompilePhase::Optimize)))
    return 1;
  {
    PassManager pm(&context);
    TailorPeftOptions peft;
    peft.method = method;
    peft.rank = method == "adalora" ? adaInitR : loraR;
    peft.orthRegWeight = orthRegWeight;
    peft.alpha = loraAlpha;
    peft.rslora = rslora;
    peft.dora = dora;
    peft.loraFA = loraFA;
    peft.target.assign(target.begin(), target.end());
    peft.exclude.assign(exclude.begin(), exclude.end());
    peft.feedforward.assign(feedforward.begin(), feedforward.end());
    peft.bottleneck = adapterSize;
    peft.placement = adapterPlacement;
    peft.activation = adapterActivation;
    peft.scaling = adapterScaling;
    peft.virtualTokens = virtualTokens;
    pm.addPass(createTailorPeft(peft));
    if (qat != "none") {
      TailorQuantizeOptions q;
      q.mode = qat;
      q.qat = true;
      q.groupSize = qatGroupSize;
      pm.addPass(createTailorQuantize(q));
    }
    // Phases 1-3 (linears, norms, activations, rotary, attention): each
    // has a gradient rule; a MoE block stays ONNX-level (tailor.moe has
    // none).
    if (raiseOps &&
        failed(parsePassPipeline("func.func(tailor-raise{phases=3})", pm)))
      return fail("cannot build the tailor-raise pipeline");
    if (quantizeBase != "none") {
      TailorQuantizeOptions q;
      q.mode = quantizeBase;
      q.groupSize = baseGroupSize;
      q.exclude = {"lm_head"};
      q.embeddings = false; // QLoRA quantizes the linears only
      pm.addPass(createTailorQuantize(q));
    }
    TailorLossOptions loss;
    loss.kind = lossKind;
    loss.beta = beta;
    loss.labelSmoothing = labelSmoothing;
    loss.simpoGamma = simpoGamma;
    loss.temperature = temperature;
    loss.desirableWeight = desirableWeight;
    loss.undesirableWeight = undesirableWeight;
    loss.kdDirection = kdDirection;
    pm.addPass(createTailorLoss(loss));
    if (failed(pm.run(*module)))
      return 1;
  }
  auto initial = initialParameters(*module);
  if (!initial)
    return fail(modelPath + ": " + llvm::toString(initial.takeError()));
  if (method == "prefix") {
    // PEFT's prompt_embeddings needs every prefix's layer and kind.
    std::set<std::pair<int64_t, int>> seen;
    for (const Carried &c : *initial) {
      auto slot = prefixSlot(c.name);
      if (!slot || !seen.insert(*slot).second)
        return fail("--method prefix: cannot tell the layer and key/value of "
                    "the cache input behind '" +
                    c.name +
                    "' (names like past_key.<layer> / past_value.<layer>)");
    }
  }
  func::FuncOp entry = findEntry(*module);
  DictionaryAttr peftInfo = entry->getAttrOfType<DictionaryAttr>("tailor.peft");
  int64_t vocab = 0;
  for (unsigned i = 0; i < entry.getNumResults(); ++i)
    if (auto n = entry.getResultAttrOfType<StringAttr>(i, "onnx.name");
        n && n.getValue() != "loss") {
      auto t = dyn_cast<RankedTensorType>(entry.getResultTypes()[i]);
      if (t && t.getRank() == 3 && !t.isDynamicDim(2)) {
        vocab = t.getDimSize(2);
        break;
      }
    }
  if (vocab <= 0)
    return fail(modelPath + ": no logits [batch, sequence, vocabulary] "
                            "result with a static vocabulary");
  if (padId < 0 || padId >= vocab)
    return fail("--pad-id " + llvm::Twine(padId) +
                " is outside the vocabulary [0, " + llvm::Twine(vocab) + ")");
  std::unique_ptr<Compiled> teacherOwner;
  if (!teacherPath.empty()) {
    auto t = Clock::now();
    llvm::errs() << "tailor-train: importing the teacher " << teacherPath
                 << "\n";
    OwningOpRef<ModuleOp> teacher = importOnnxFile(teacherPath, &context);
    if (!teacher)
      return 1;
    CompileOptions teacherOptions;
    if (failed(lowerModule(*teacher, teacherOptions, CompilePhase::Import,
                           CompilePhase::Optimize)))
      return 1;
    auto c = compile(*teacher, teacherOptions.targetOptions);
    if (!c)
      return fail("the teacher: " + llvm::toString(c.takeError()));
    teacherOwner = std::move(*c);
    teacherModel = teacherOwner.get();
    int32_t index = teacherModel->output("logits");
    const tailor_tensor_info &info =
        teacherModel->outputs[index < 0 ? 0 : index];
    if (info.rank != 3 || info.shape[2] != vocab)
      return fail(teacherPath + ": its logits are not [batch, sequence, " +
                  llvm::Twine(vocab) + "] (the student's vocabulary)");
    teacherVocab = vocab;
    llvm::errs() << "tailor-train: compiled the teacher in "
                 << llvm::format("%.1f", since(t)) << " s\n";
  }
  int64_t numParams = 0, numTrainable = 0;
  for (const Carried &c : *initial)
    if (!c.frozen) {
      numParams += c.data.size();
      ++numTrainable;
    }
  llvm::errs() << "tailor-train: " << method << ": " << numTrainable
               << " trainable tensors, " << numParams << " parameters\n";

  // Data (after the model: ids are checked against its vocabulary).
  std::optional<TextEncoder> encoder;
  if (tokenizer == "sentencepiece") {
    int64_t pieces = 0;
    auto loaded = loadSentencePiece(spmModel, pieces);
    if (!loaded)
      return fail(llvm::toString(loaded.takeError()));
    if (pieces > vocab)
      return fail(spmModel + ": " + llvm::Twine(pieces) +
                  " pieces, more than the model's vocabulary of " +
                  llvm::Twine(vocab));
    encoder = std::move(*loaded);
  }
  // Prompt tuning's P placeholder ids count against --max-length.
  int64_t rowLength = method == "prompt" ? maxLength - virtualTokens
                                         : int64_t(maxLength);
  auto read = [&](StringRef path) {
    const TextEncoder *e = encoder ? &*encoder : nullptr;
    if (lossKind == "kto")
      return readKtoJsonl(path, vocab, rowLength, batchSize, tokenizer, e);
    return paired() ? readPreferenceJsonl(path, vocab, rowLength, tokenizer, e)
                    : readJsonl(path, vocab, rowLength, tokenizer, e);
  };
  auto train = read(dataPath);
  if (!train)
    return fail(llvm::toString(train.takeError()));
  if (!dumpTokens.empty()) {
    std::string text;
    for (const Example &ex : train->rows)
      text += llvm::formatv("{0}\n",
                            llvm::json::Value(llvm::json::Object{
                                {"input_ids", ex.ids}, {"labels", ex.labels}}))
                  .str();
    if (auto e = writeText(dumpTokens, text))
      return fail(llvm::toString(std::move(e)));
    llvm::errs() << "tailor-train: wrote " << train->rows.size()
                 << " tokenized rows to " << dumpTokens << "\n";
    return 0;
  }
  std::optional<Dataset> heldOut;
  if (!evalPath.empty()) {
    auto e = read(evalPath);
    if (!e)
      return fail(llvm::toString(e.takeError()));
    if (e->rows.empty())
      return fail(evalPath + ": no example with a token to predict");
    heldOut = std::move(*e);
  }
  if (method == "prompt") {
    // The prompt's places: placeholder ids (their embeddings are replaced)
    // with ignored labels, before every row.
    auto prepend = [&](Dataset &d) {
      for (Example &ex : d.rows) {
        ex.ids.insert(ex.ids.begin(), virtualTokens, int64_t(padId));
        ex.labels.insert(ex.labels.begin(), virtualTokens, int64_t(-100));
      }
    };
    prepend(*train);
    if (heldOut)
      prepend(*heldOut);
  }
  int64_t n = examples(*train);
  int64_t perEpoch = n / batchSize; // micro-batches (the rest is dropped)
  if (perEpoch < 1)
    return fail(dataPath + ": " + llvm::Twine(n) +
                " usable examples; --batch-size " + llvm::Twine(batchSize) +
                " needs at least that many");
  int64_t totalSteps = steps ? int64_t(steps) : epochs * perEpoch / gradAccum;
  if (totalSteps < 1)
    return fail("one epoch has fewer micro-batches than --grad-accum; set "
                "--steps");
  // AdaLoRA: PEFT's configuration (total_step: this run's steps).
  adalora::Config adaConfig;
  adaConfig.initR = adaInitR;
  adaConfig.targetR = adaTargetR;
  adaConfig.tinit = adaTinit;
  adaConfig.tfinal = adaTfinal;
  adaConfig.deltaT = adaDeltaT;
  adaConfig.totalStep = totalSteps;
  adaConfig.beta1 = adaBeta1;
  adaConfig.beta2 = adaBeta2;
  if (method == "adalora")
    if (llvm::Error e = adalora::validate(adaConfig))
      return fail("--method adalora: " + llvm::toString(std::move(e)));
  llvm::errs() << "tailor-train: " << n
               << (paired() ? " preference pairs (" : " training examples (")
               << train->skipped << " without a predicted token skipped, "
               << train->truncated << " cut to " << maxLength << " tokens)";
  if (heldOut)
    llvm::errs() << ", " << examples(*heldOut) << " held-out";
  llvm::errs() << "; " << totalSteps << " steps of " << batchSize << " x "
               << gradAccum << " examples\n";

  // The held-out loss function: the model and loss, no gradient.
  std::unique_ptr<Compiled> evalFn;
  TargetOptions targetOptions = compileOptions.targetOptions;
  // QLoRA computes in float with the dequantized base weights.
  targetOptions.int4Activations = "f32";
  bool needsRef = false;
  for (BlockArgument arg : entry.getArguments())
    if (auto name = entry.getArgAttrOfType<StringAttr>(arg.getArgNumber(),
                                                       "onnx.name"))
      needsRef |= name.getValue() == "ref_logps";
  if (heldOut || needsRef) {
    auto t = Clock::now();
    OwningOpRef<ModuleOp> evalModule = module->clone();
    auto c = compile(*evalModule, targetOptions);
    if (!c)
      return fail("the evaluation function: " + llvm::toString(c.takeError()));
    evalFn = std::move(*c);
    llvm::errs() << "tailor-train: compiled the evaluation function in "
                 << llvm::format("%.1f", since(t)) << " s\n";
  }
  // The step: with static shapes, for [rows, L] batches.
  int64_t staticLength = 0;
  if (shapeMode == "static")
    for (const Example &ex : train->rows)
      staticLength = std::max<int64_t>(staticLength, ex.ids.size());
  {
    auto t = Clock::now();
    PassManager pm(&context);
    if (staticLength) {
      int64_t rows = paired() ? 2 * batchSize : batchSize;
      TailorSpecializeInputsOptions specialize;
      for (unsigned i = 0; i < entry.getNumArguments(); ++i) {
        auto name = entry.getArgAttrOfType<StringAttr>(i, "onnx.name");
        auto type = dyn_cast<RankedTensorType>(entry.getArgumentTypes()[i]);
        if (!name || !type)
          continue;
        std::string dims;
        if (name.getValue() == "input_ids" || name.getValue() == "labels")
          dims = llvm::formatv("{0}x{1}", rows, staticLength).str();
        else if (name.getValue() == "ref_logps")
          dims = llvm::formatv("{0}", rows).str();
        else if (name.getValue() == "desirable")
          dims = llvm::formatv("{0}", batchSize).str();
        else if (name.getValue() == "teacher_logits")
          dims = llvm::formatv("{0}x{1}x{2}", rows, staticLength, vocab).str();
        else if (name.getValue().starts_with("past") && type.getRank() == 4 &&
                 !type.isDynamicDim(1) && !type.isDynamicDim(3))
          dims = llvm::formatv("{0}x{1}x0x{2}", rows, type.getDimSize(1),
                               type.getDimSize(3))
                     .str();
        if (!dims.empty())
          specialize.shapes.push_back(name.getValue().str() + ":" + dims);
      }
      pm.addPass(createTailorSpecializeInputs(specialize));
      llvm::errs() << "tailor-train: the step takes " << rows << " x "
                   << staticLength
                   << " tokens (static shapes; --shapes=dynamic pads each "
                      "batch to its longest row instead)\n";
    }
    // MeZO: the step is the loss function itself (two forward passes).
    if (!mezo)
      pm.addPass(createTailorAutodiff());
    if (recompute != "none") {
      TailorRecomputeOptions rc;
      rc.policy = recompute;
      rc.k = recomputeK;
      rc.budget = recomputeBudget;
      pm.addPass(createTailorRecompute(rc));
    }
    TailorOptimizerOptions opt;
    opt.kind = optimizer;
    opt.beta1 = beta1;
    opt.beta2 = beta2;
    opt.eps = eps;
    opt.weightDecay = weightDecay;
    opt.momentum = momentum;
    opt.nesterov = nesterov;
    opt.maxGradNorm = maxGradNorm;
    opt.accumulate = gradAccum;
    // AdaLoRA's importance reads every adapter's gradient.
    if (method == "adalora")
      opt.returnGrads = {".*"};
    if (!mezo)
      pm.addPass(createTailorOptimizer(opt));
    if (failed(pm.run(*module)))
      return 1;
    if (!dumpStep.empty()) {
      // What is compiled: tailor-compile FILE --compile-to=... reproduces
      // any later stage (profiling, bug reports).
      std::string text;
      llvm::raw_string_ostream os(text);
      OpPrintingFlags flags;
      flags.enableDebugInfo();
      module->print(os, flags);
      if (auto e = writeText(dumpStep, text))
        return fail(llvm::toString(std::move(e)));
      llvm::errs() << "tailor-train: wrote the training step to " << dumpStep
                   << "\n";
    }
    llvm::errs() << "tailor-train: compiling the training step\n";
    TargetOptions stepOptions = targetOptions;
    stepOptions.countBuffers = true; // the step's peak buffer memory
    auto c = compile(*module, stepOptions);
    if (!c)
      return fail("the training step: " + llvm::toString(c.takeError()));
    llvm::errs() << "tailor-train: compiled the training step in "
                 << llvm::format("%.1f", since(t)) << " s\n";
    auto stepFn = std::move(*c);

    // Parameters and state: outputs named like inputs are carried.
    std::vector<std::unique_ptr<Carried>> carried;
    std::map<std::string, Carried *> byName;
    for (Carried &p : *initial) {
      carried.push_back(std::make_unique<Carried>(std::move(p)));
      byName[carried.back()->name] = carried.back().get();
    }
    for (const tailor_tensor_info &out : stepFn->outputs) {
      StringRef name(out.name);
      if (name == "loss" || name == "grad_norm" || byName.count(name.str()))
        continue;
      bool isInput = llvm::any_of(stepFn->inputs, [&](auto &i) {
        return name == i.name;
      });
      if (!isInput)
        continue;
      auto c = std::make_unique<Carried>();
      c->name = name.str();
      c->shape.assign(out.shape, out.shape + out.rank);
      int64_t count = 1;
      for (int64_t d : c->shape)
        count *= d;
      c->data.assign(count, 0.0f);
      byName[c->name] = c.get();
      carried.push_back(std::move(c));
    }
    std::map<std::string, Carried *> params;
    for (auto &c : carried)
      if (c->param)
        params[c->name] = c.get();

    // AdaLoRA: the rank allocator over the adapted matrices (tailor-peft's
    // modules, in order) and the gradients of the last update.
    std::optional<adalora::RankAllocator> allocator;
    std::vector<std::array<Carried *, 3>> adaParams;
    std::map<std::string, std::vector<float>> adaGrads;
    if (method == "adalora") {
      std::vector<adalora::Matrix> mats;
      if (peftInfo)
        if (auto list = peftInfo.getAs<ArrayAttr>("modules"))
          for (Attribute m : list) {
            std::string module = cast<StringAttr>(m).str();
            std::array<Carried *, 3> abc{};
            const char *parts[3] = {".lora_A", ".lora_E", ".lora_B"};
            for (int t = 0; t < 3; ++t) {
              auto it = params.find(module + parts[t]);
              if (it == params.end())
                return fail("AdaLoRA: module '" + module + "' has no " +
                            parts[t] + " parameter");
              abc[t] = it->second;
              adaGrads[it->first].assign(it->second->data.size(), 0.0f);
            }
            mats.push_back({module, abc[0]->shape[1], abc[2]->shape[0]});
            adaParams.push_back(abc);
          }
      allocator.emplace(adaConfig, std::move(mats));
      llvm::errs() << "tailor-train: AdaLoRA over " << adaParams.size()
                   << " matrices: rank budget " << allocator->initialBudget()
                   << " -> " << allocator->targetBudget() << "\n";
    }
    auto adaTensors = [&]() {
      std::vector<adalora::Tensors> ts;
      for (auto &abc : adaParams)
        ts.push_back({abc[0]->data.data(), abc[1]->data.data(),
                      abc[2]->data.data(), adaGrads[abc[0]->name].data(),
                      adaGrads[abc[1]->name].data(),
                      adaGrads[abc[2]->name].data()});
      return ts;
    };

    // The reference model's log-probabilities: the initial parameters'
    // (a frozen copy of the starting model, as TRL's precompute_ref_log_probs).
    std::vector<float> refTrain, refEval;
    if (needsRef) {
      auto t = Clock::now();
      std::vector<float> none;
      auto r = evaluate(*evalFn, *train, none, params);
      if (!r)
        return fail("reference log-probabilities: " +
                    llvm::toString(r.takeError()));
      refTrain = std::move(r->logps);
      if (heldOut) {
        auto e = evaluate(*evalFn, *heldOut, none, params);
        if (!e)
          return fail("reference log-probabilities: " +
                      llvm::toString(e.takeError()));
        refEval = std::move(e->logps);
      }
      llvm::errs() << "tailor-train: reference log-probabilities of the "
                   << n + (heldOut ? examples(*heldOut) : 0)
                   << (lossKind == "kto" ? " examples" : " pairs")
                   << " (the initial model) in "
                   << llvm::format("%.1f", since(t)) << " s\n";
    }

    // The held-out loss of the initial model (before a checkpoint's
    // parameters replace it).
    if (heldOut && !baseEval) {
      auto e = evaluate(*evalFn, *heldOut, refEval, params);
      if (!e)
        return fail("evaluation: " + llvm::toString(e.takeError()));
      baseEval = e->loss;
      llvm::errs() << llvm::format("tailor-train: held-out loss before "
                                   "training %.4f\n",
                                   *baseEval);
    }

    if (checkpoint) {
      const std::string &path = checkpointPath;
      if (startStep > totalSteps)
        return fail(path + ": step " + llvm::Twine(startStep) +
                    " is past the run's " + llvm::Twine(totalSteps));
      for (auto &c : carried) {
        const safetensors::TensorInfo *info = checkpoint->lookup(c->name);
        if (!info || info->dtype != safetensors::DType::F32 ||
            llvm::ArrayRef<int64_t>(info->shape) !=
                llvm::ArrayRef<int64_t>(c->shape))
          return fail(path + ": no float32 tensor '" + c->name +
                      "' of the step's shape");
        llvm::ArrayRef<char> bytes = checkpoint->bytes(*info);
        std::memcpy(c->data.data(), bytes.data(), bytes.size());
      }
      if (allocator) {
        for (auto &[name, values] : allocator->state()) {
          const safetensors::TensorInfo *info = checkpoint->lookup(name);
          if (!info || info->dtype != safetensors::DType::F32 ||
              info->shape.size() != 1 ||
              info->shape[0] != int64_t(values->size()))
            return fail(path + ": no AdaLoRA state '" + name + "'");
          llvm::ArrayRef<char> bytes = checkpoint->bytes(*info);
          std::memcpy(values->data(), bytes.data(), bytes.size());
        }
        auto it = checkpoint->metadata().find("adalora_rank_pattern");
        if (it != checkpoint->metadata().end()) {
          auto pattern = adalora::parseRankPattern(it->second, adaParams.size(),
                                          adaInitR);
          if (!pattern)
            return fail(path + ": " + llvm::toString(pattern.takeError()));
          allocator->setRankPattern(std::move(*pattern));
        }
      }
      llvm::errs() << "tailor-train: resuming from " << path << " (step "
                   << startStep << ")\n";
    }

    auto saveLog = [&]() -> llvm::Error {
      std::string title = (llvm::sys::path::filename(modelPath) + ": " +
                           method + ", " + optimizer + " lr " +
                           printed("%g", lr))
                              .str();
      if (auto e = writeText(outputDir + "/loss.csv", lossCsv(log, baseEval)))
        return e;
      return writeText(outputDir + "/loss.svg", lossSvg(log, baseEval, title));
    };
    auto saveCheckpoint = [&](int64_t step) -> llvm::Error {
      std::vector<safetensors::TensorData> tensors;
      for (auto &c : carried)
        tensors.push_back(
            {c->name, safetensors::DType::F32,
             llvm::SmallVector<int64_t>(c->shape.begin(), c->shape.end()),
             llvm::ArrayRef<char>(reinterpret_cast<const char *>(c->data.data()),
                                  c->data.size() * sizeof(float))});
      std::map<std::string, std::string> meta{
          {"format", "tailor-train checkpoint 1"},
          {"step", std::to_string(step)},
          {"config", configText},
          {"log", lossCsv(log, std::nullopt)}};
      if (allocator) {
        for (auto &[name, values] : allocator->state())
          tensors.push_back(
              {name, safetensors::DType::F32,
               {int64_t(values->size())},
               llvm::ArrayRef<char>(
                   reinterpret_cast<const char *>(values->data()),
                   values->size() * sizeof(float))});
        if (!allocator->rankPattern().empty())
          meta["adalora_rank_pattern"] =
              adalora::rankPatternJson(allocator->rankPattern());
      }
      if (baseEval)
        meta["base_eval_loss"] = printed("%.17g", *baseEval);
      std::string path =
          (outputDir + "/checkpoint-" + llvm::Twine(step) + ".safetensors")
              .str();
      if (auto e = safetensors::write(path, tensors, meta))
        return e;
      auto found = checkpoints(outputDir);
      while (int64_t(found.size()) > keepCheckpoints) {
        llvm::sys::fs::remove(found.begin()->second);
        found.erase(found.begin());
      }
      return saveLog();
    };


    bool tty = llvm::errs().is_displayed();
    std::vector<int64_t> order;
    int64_t orderEpoch = -1;
    // Wall-clock seconds continue from the checkpoint's log.
    double secondsBefore = log.empty() ? 0.0 : log.back().seconds;
    auto loopStart = Clock::now();
    double runTokens = 0;
    int64_t stepPeak = 0;
    for (int64_t s = startStep; s < totalSteps; ++s) {
      Feeds f;
      f.carried = byName;
      f.lr = float(lr * scheduleFactor(*sched, s, warmup, totalSteps));
      f.step = float(s + 1);
      double lossSum = 0, gradNorm = 0;
      int64_t tokens = 0;
      for (int64_t m = 0; m < gradAccum; ++m) {
        int64_t micro = s * gradAccum + m;
        int64_t epoch = micro / perEpoch, index = micro % perEpoch;
        if (epoch != orderEpoch) {
          order = epochOrder(seed, epoch, n);
          orderEpoch = epoch;
        }
        std::vector<int64_t> rows = batchRows(
            *train, std::vector<int64_t>(order.begin() + index * batchSize,
                                         order.begin() +
                                             (index + 1) * batchSize));
        Batch b = makeBatch(*train, rows, padId, staticLength);
        std::vector<float> refs = gather(refTrain, rows);
        std::vector<uint8_t> desirable = desirableOf(
            *train,
            std::vector<int64_t>(order.begin() + index * batchSize,
                                 order.begin() + (index + 1) * batchSize));
        f.batch = &b;
        f.refLogps = &refs;
        f.desirable = &desirable;
        f.apply = m + 1 == gradAccum;
        std::vector<float> teacher;
        if (teacherModel) {
          if (auto err = teacherLogits(b, teacher))
            return fail("step " + llvm::Twine(s + 1) + ": " +
                        llvm::toString(std::move(err)));
          f.teacher = &teacher;
          f.vocab = teacherVocab;
        }
        if (mezo) {
          auto zo = mezoStep(*stepFn, f, carried, s);
          if (!zo)
            return fail("step " + llvm::Twine(s + 1) + ": " +
                        llvm::toString(zo.takeError()));
          stepPeak = std::max(stepPeak, zo->peak);
          lossSum += zo->loss;
          gradNorm = std::fabs(zo->projected);
          tokens += b.tokens;
          continue;
        }
        resetBufferStats();
        auto result = run(*stepFn, f);
        stepPeak = std::max(stepPeak, bufferStats().peak);
        if (!result)
          return fail("step " + llvm::Twine(s + 1) + ": " +
                      llvm::toString(result.takeError()));
        lossSum += scalarOutput(result->get(), stepFn->output("loss"));
        gradNorm = scalarOutput(result->get(), stepFn->output("grad_norm"));
        tokens += b.tokens;
        for (auto &c : carried) {
          if (c->frozen)
            continue;
          tailor_tensor view;
          if (tailor_result_output(result->get(), stepFn->output(c->name),
                                   &view) != TAILOR_OK)
            return fail(tailor_last_error());
          std::memcpy(c->data.data(), view.data,
                      c->data.size() * sizeof(float));
        }
        if (allocator && f.apply)
          for (auto &[name, g] : adaGrads) {
            tailor_tensor view;
            if (tailor_result_output(result->get(),
                                     stepFn->output("grad." + name),
                                     &view) != TAILOR_OK)
              return fail(tailor_last_error());
            std::memcpy(g.data(), view.data, g.size() * sizeof(float));
          }
      }
      // AdaLoRA: importance, budget and masking after the update
      // (PEFT's update_and_allocate(global_step), 0-based).
      int64_t budget = 0;
      if (allocator)
        budget = allocator->update(s, adaTensors());
      LogRow row;
      row.step = s + 1;
      row.epoch = double((s + 1) * gradAccum) / double(perEpoch);
      row.lr = f.lr;
      row.loss = lossSum / gradAccum;
      row.gradNorm = gradNorm;
      row.tokens = tokens;
      row.seconds = secondsBefore + since(loopStart);
      if (!std::isfinite(row.loss))
        return fail("step " + llvm::Twine(s + 1) +
                    ": the loss is not finite (lower --lr?)");
      runTokens += tokens;
      bool last = s + 1 == totalSteps;
      if ((evalEvery && (s + 1) % evalEvery == 0) || (last && heldOut)) {
        if (heldOut) {
          auto e = evaluate(*evalFn, *heldOut, refEval, params);
          if (!e)
            return fail("evaluation: " + llvm::toString(e.takeError()));
          row.evalLoss = e->loss;
          row.evalMargin = e->margin;
          row.evalAccuracy = e->accuracy;
        }
      }
      log.push_back(row);
      double runSeconds = since(loopStart);
      double perStep = runSeconds / double(s + 1 - startStep);
      std::string line = llvm::formatv(
          "[{0,5}/{1}] loss {2:f4}  lr {3:e2}  |g| {4:f3}  {5:f0} tok/s  "
          "ETA {6}",
          s + 1, totalSteps, row.loss, row.lr, row.gradNorm,
          runTokens / std::max(runSeconds, 1e-9),
          formatTime(perStep * double(totalSteps - s - 1)));
      if (allocator)
        line += llvm::formatv("  rank budget {0}", budget).str();
      if (tty)
        llvm::errs() << "\r" << line << "\x1b[K";
      else if ((s + 1) % logEvery == 0 || last)
        llvm::errs() << line << "\n";
      if (row.evalLoss) {
        llvm::errs() << (tty ? "\n" : "")
                     << llvm::format("tailor-train: held-out loss after "
                                     "step %lld: %.4f",
                                     (long long)(s + 1), *row.evalLoss);
        if (row.evalMargin)
          llvm::errs() << llvm::format(", reward margin %.4f, accuracy %.3f",
                                       *row.evalMargin, *row.evalAccuracy);
        llvm::errs() << "\n";
      }
      if ((saveEvery && (s + 1) % saveEvery == 0) || last) {
        if (auto e = saveCheckpoint(s + 1))
          return fail(llvm::toString(std::move(e)));
      } else if ((s + 1) % logEvery == 0) {
        if (auto e = saveLog())
          return fail(llvm::toString(std::move(e)));
      }
    }
    if (tty)
      llvm::errs() << "\n";
    if (auto e = saveLog())
      return fail(llvm::toString(std::move(e)));

    // The result.
    if (method != "full" && method != "bitfit") {
      // Written into adapter.tmp, then renamed to adapter: never half an
      // adapter under the final name.
      std::string final = outputDir + "/adapter";
      std::string dir = outputDir + "/adapter.tmp";
      llvm::sys::fs::remove_directories(dir);
      if (std::error_code ec = llvm::sys::fs::create_directories(dir))
        return fail(dir + ": " + ec.message());
      std::vector<safetensors::TensorData> tensors;
      auto bytesOf = [](const std::vector<float> &v) {
        return llvm::ArrayRef<char>(reinterpret_cast<const char *>(v.data()),
                                    v.size() * sizeof(float));
      };
      // Prefix tuning: PEFT's one prompt_embeddings [P, layers * 2 * H * D]
      // (viewed as [P, layers * 2, H, D]; entry 2l + 0 layer l's keys,
      // 2l + 1 its values).
      std::vector<float> prefixTable;
      std::deque<std::vector<float>> resized;
      if (method == "prefix") {
        int64_t layers = 0, heads = 0, dim = 0;
        std::map<std::pair<int64_t, int>, Carried *> parts;
        for (auto &[name, c] : params) {
          auto slot = prefixSlot(name);
          if (!slot || c->shape.size() != 4)
            return fail("prefix tuning: cannot place '" + name + "'");
          auto [layer, kind] = *slot;
          parts[{layer, kind}] = c;
          layers = std::max(layers, layer + 1);
          heads = c->shape[1];
          dim = c->shape[3];
        }
        if (int64_t(parts.size()) != 2 * layers)
          return fail("prefix tuning: not every layer has a key and a value "
                      "prefix");
        int64_t width = layers * 2 * heads * dim;
        prefixTable.assign(virtualTokens * width, 0.0f);
        for (auto &[at, c] : parts)
          for (int64_t h = 0; h < heads; ++h)
            for (int64_t p = 0; p < virtualTokens; ++p)
              for (int64_t d = 0; d < dim; ++d)
                prefixTable[p * width +
                            ((at.first * 2 + at.second) * heads + h) * dim +
                            d] = c->data[(h * virtualTokens + p) * dim + d];
        tensors.push_back({"prompt_embeddings",
                           safetensors::DType::F32,
                           {virtualTokens, width},
                           bytesOf(prefixTable)});
      } else if (allocator && !allocator->rankPattern().empty()) {
        // AdaLoRA: PEFT saves the kept rank slots only (its
        // resize_state_dict_by_rank_pattern).
        const auto &pattern = allocator->rankPattern();
        for (size_t m = 0; m < adaParams.size(); ++m) {
          const std::vector<bool> &keep = pattern[m];
          int64_t kept = llvm::count(keep, true);
          for (int t = 0; t < 3; ++t) {
            Carried *c = adaParams[m][t];
            int64_t rows = c->shape[0], cols = c->shape[1];
            std::vector<float> v;
            llvm::SmallVector<int64_t> shape;
            if (t < 2) { // A [r, in], E [r, 1]: rows
              for (int64_t i = 0; i < rows; ++i)
                if (keep[i])
                  v.insert(v.end(), c->data.begin() + i * cols,
                           c->data.begin() + (i + 1) * cols);
              shape = {kept, cols};
            } else { // B [out, r]: columns
              for (int64_t o = 0; o < rows; ++o)
                for (int64_t i = 0; i < cols; ++i)
                  if (keep[i])
                    v.push_back(c->data[o * cols + i]);
              shape = {rows, kept};
            }
            resized.push_back(std::move(v));
            tensors.push_back({"base_model.model." + c->name,
                               safetensors::DType::F32, shape,
                               bytesOf(resized.back())});
          }
        }
      } else {
        // PEFT's keys: base_model.model.<module>.<tensor>; prompt tuning's
        // is prompt_embeddings.
        for (auto &[name, c] : params)
          tensors.push_back(
              {method == "prompt" ? name : "base_model.model." + name,
               safetensors::DType::F32,
               llvm::SmallVector<int64_t>(c->shape.begin(), c->shape.end()),
               bytesOf(c->data)});
      }
      if (auto e = safetensors::write(dir + "/adapter_model.safetensors",
                                      tensors, {{"format", "pt"}}))
        return fail(llvm::toString(std::move(e)));
      auto strings = [&](StringRef key) {
        llvm::json::Array out;
        if (peftInfo)
          if (auto list = peftInfo.getAs<ArrayAttr>(key))
            for (Attribute m : list)
              out.push_back(cast<StringAttr>(m).str());
        return out;
      };
      llvm::json::Object cfg{{"task_type", "CAUSAL_LM"},
                             {"base_model_name_or_path", modelPath.getValue()},
                             {"inference_mode", true},
                             {"target_modules", strings("modules")}};
      if (method == "lora") {
        cfg["peft_type"] = "LORA";
        cfg["r"] = loraR.getValue();
        cfg["lora_alpha"] = loraAlpha.getValue();
        cfg["use_rslora"] = rslora.getValue();
        cfg["use_dora"] = dora.getValue();
        cfg["lora_dropout"] = 0.0;
        cfg["fan_in_fan_out"] = false;
        cfg["bias"] = "none";
        cfg["init_lora_weights"] = true;
      } else if (method == "adalora") {
        // PEFT's AdaLoraConfig (rank_pattern: the kept slots of each
        // module's lora_E, as its RankAllocator names them).
        cfg["peft_type"] = "ADALORA";
        cfg["init_r"] = adaInitR.getValue();
        cfg["target_r"] = adaTargetR.getValue();
        cfg["tinit"] = adaTinit.getValue();
        cfg["tfinal"] = adaTfinal.getValue();
        cfg["deltaT"] = adaDeltaT.getValue();
        cfg["beta1"] = adaBeta1.getValue();
        cfg["beta2"] = adaBeta2.getValue();
        cfg["orth_reg_weight"] = orthRegWeight.getValue();
        cfg["total_step"] = totalSteps;
        cfg["lora_alpha"] = loraAlpha.getValue();
        cfg["lora_dropout"] = 0.0;
        cfg["fan_in_fan_out"] = false;
        cfg["bias"] = "none";
        if (!allocator->rankPattern().empty()) {
          llvm::json::Object pattern;
          for (size_t m = 0; m < adaParams.size(); ++m) {
            llvm::json::Array keep;
            for (bool k : allocator->rankPattern()[m])
              keep.push_back(k);
            pattern[allocator->matrices()[m].module + ".lora_E"] =
                std::move(keep);
          }
          cfg["rank_pattern"] = std::move(pattern);
        } else {
          cfg["rank_pattern"] = nullptr;
        }
      } else if (method == "prefix" || method == "prompt") {
        // PEFT's PrefixTuningConfig / PromptTuningConfig.
        cfg["peft_type"] =
            method == "prefix" ? "PREFIX_TUNING" : "PROMPT_TUNING";
        cfg.erase("target_modules");
        cfg["num_virtual_tokens"] = virtualTokens.getValue();
        cfg["num_transformer_submodules"] = 1;
        if (peftInfo)
          for (StringRef key :
               {"token_dim", "num_layers", "num_attention_heads"})
            if (auto v = peftInfo.getAs<IntegerAttr>(key))
              cfg[key] = v.getInt();
        if (method == "prefix") {
          cfg["prefix_projection"] = false;
          cfg["encoder_hidden_size"] = cfg.getInteger("token_dim").value_or(0);
        } else {
          cfg["prompt_tuning_init"] = "RANDOM";
        }
      } else if (method == "ia3") {
        // PEFT's IA3Config.
        cfg["peft_type"] = "IA3";
        cfg["feedforward_modules"] = strings("feedforward_modules");
        cfg["fan_in_fan_out"] = false;
        cfg["init_ia3_weights"] = true;
      } else {
        // No PEFT type: Tailor's own description of the adapters.
        cfg["peft_type"] = "BOTTLENECK";
        cfg["bottleneck_size"] = adapterSize.getValue();
        cfg["placement"] = adapterPlacement.getValue();
        cfg["activation"] = adapterActivation.getValue();
        cfg["scaling"] = adapterScaling.getValue();
      }
      if (auto e = writeText(dir + "/adapter_config.json",
                             llvm::formatv("{0:2}\n", llvm::json::Value(
                                                          std::move(cfg)))
                                 .str()))
        return fail(llvm::toString(std::move(e)));
      llvm::sys::fs::remove_directories(final);
      if (std::error_code ec = llvm::sys::fs::rename(dir, final))
        return fail(final + ": " + ec.message());
      llvm::errs() << "tailor-train: wrote the adapter to " << final << "\n";
    } else {
      // PyTorch's names and layouts ([out, in] for a transposed weight).
      std::vector<std::vector<float>> transposed;
      transposed.reserve(params.size());
      std::vector<safetensors::TensorData> tensors;
      for (auto &[name, c] : params) {
        llvm::SmallVector<int64_t> shape(c->shape.begin(), c->shape.end());
        const std::vector<float> *data = &c->data;
        if (c->transposed && shape.size() == 2) {
          int64_t rows = shape[0], cols = shape[1];
          std::vector<float> t(c->data.size());
          for (int64_t i = 0; i < rows; ++i)
            for (int64_t j = 0; j < cols; ++j)
              t[j * rows + i] = c->data[i * cols + j];
          transposed.push_back(std::move(t));
          data = &transposed.back();
          std::swap(shape[0], shape[1]);
        }
        tensors.push_back(
            {name, safetensors::DType::F32, shape,
             llvm::ArrayRef<char>(reinterpret_cast<const char *>(data->data()),
                                  data->size() * sizeof(float))});
      }
      std::string path = outputDir + "/model.safetensors";
      if (auto e = safetensors::write(path, tensors, {{"format", "pt"}}))
        return fail(llvm::toString(std::move(e)));
      llvm::errs() << "tailor-train: wrote the trained weights to " << path
                   << "\n";
    }
    if (stepPeak)
      llvm::errs() << llvm::format("tailor-train: peak buffer memory of the "
                                   "step: %.2f MB (%lld bytes: activations, "
                                   "gradients, temporaries, results)\n",
                                   stepPeak / 1e6, (long long)stepPeak);
    llvm::errs() << "tailor-train: done in " << formatTime(since(t0));
    if (!log.empty()) {
      llvm::errs() << "; loss " << llvm::format("%.4f", log.back().loss);
      if (log.back().evalLoss)
        llvm::errs() << llvm::format(", held-out %.4f", *log.back().evalLoss);
      if (log.back().evalLoss && baseEval)
        llvm::errs() << llvm::format(" (before training: %.4f)", *baseEval);
    }
    llvm::errs() << "\n";
  }
  return 0;
}
