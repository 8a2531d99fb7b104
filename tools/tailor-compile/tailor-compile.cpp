//===- tailor-compile.cpp - Compile a model ahead of time -----------------===//
//
//   tailor-compile model.onnx                   -> model.so (code, weights,
//                                                  descriptor, C runtime)
//   tailor-compile model.onnx --emit=obj        -> model.o
//   tailor-compile model.onnx --emit=llvm -o -  LLVM IR on stdout
//   tailor-compile model.onnx --compile-to=linalg   MLIR after that phase
//   tailor-compile model.onnx --header model.h  and a C header for the model
//   tailor-compile model.onnx --quantize=int8 --emit=onnx -o out.onnx
//                                               the compressed model as ONNX

#include "tailor/Compiler/AOT.h"
#include "tailor/Execution/KLBudget.h"
#include "tailor/Export/OnnxExporter.h"
#include "tailor/Import/OnnxImporter.h"
#include "tailor/InitTailor.h"
#include "tailor/Target/Signature.h"
#include "tailor/Target/Target.h"

#include "mlir/Bytecode/BytecodeWriter.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Support/Timing.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FileUtilities.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cmath>

using namespace mlir;
using namespace mlir::tailor;
namespace cl = llvm::cl;

enum class Emit { SharedObject, Object, LLVM, MLIR, Header, ONNX };
// tailor-export is this tool with --emit=onnx as its default (the same
// source built with TAILOR_EXPORT_TOOL).
#ifdef TAILOR_EXPORT_TOOL
#define TAILOR_TOOL "tailor-export"
static constexpr Emit kDefaultEmit = Emit::ONNX;
#else
#define TAILOR_TOOL "tailor-compile"
static constexpr Emit kDefaultEmit = Emit::SharedObject;
#endif

static cl::OptionCategory category(TAILOR_TOOL " options");
static cl::opt<std::string>
    inputPath(cl::Positional, cl::Required,
              cl::desc("<model.onnx | model.onnxtxt | model.mlir | ->"),
              cl::cat(category));
static cl::opt<std::string> outputPath(
    "o",
    cl::desc("Output file (default: the input's name with .so / .o / .ll / "
             ".h; MLIR goes to standard output); '-' is standard output"),
    cl::value_desc("file"), cl::cat(category));



static cl::opt<Emit> emit(
    "emit", cl::desc("What to write:"), cl::init(kDefaultEmit),
    cl::values(
        clEnumValN(Emit::SharedObject, "so",
                   "a shared object with the code, the weights and the C "
                   "runtime (default; load it with tailor_model_load)"),
        clEnumValN(Emit::Object, "obj",
                   "an object file with the code, the weights and the "
                   "descriptor (link it with libtailor_runtime_embed.a)"),
        clEnumValN(Emit::LLVM, "llvm", "LLVM IR (after LLVM's optimizer)"),
        clEnumValN(Emit::MLIR, "mlir",
                   "MLIR after the --compile-to phase (default llvm)"),
        clEnumValN(Emit::Header, "header",
                   "only the C header describing the model's signature"),
        clEnumValN(Emit::ONNX, "onnx",
                   "an ONNX model (opset 17) of the model after LoRA merge, "
                   "pruning and quantization, for other runtimes (quantized "
                   "weights as DequantizeLinear or their dequantization in "
                   "ONNX ops)")),
    cl::cat(category));
static cl::opt<std::string> compileTo(
    "compile-to",
    cl::desc("Stop after this phase and write MLIR: import (as imported), "
             "raise (LLM ops), optimize (tailor-level clean-up), linalg "
             "(the target's linalg on tensors), llvm (LLVM dialect)"),
    cl::value_desc("phase"), cl::cat(category));
static cl::opt<std::string> inputPhase(
    "input-phase", cl::init("import"),
    cl::desc("The phase an .mlir input is at (the phases before it are "
             "skipped)"),
    cl::value_desc("phase"), cl::cat(category));
static cl::opt<std::string> pipeline(
    "pipeline", cl::init("cpu"),
    cl::desc("Named target pipeline; known: cpu (CUDA and Metal are next)"),
    cl::value_desc("name"), cl::cat(category));
static cl::opt<unsigned> optLevel(
    "O", cl::init(2), cl::Prefix,
    cl::desc("Optimisation level 0-3 (0: naive loops, no tiling, for "
             "debugging; 2: default; 3: LLVM's aggressive code generation)"),
    cl::cat(category));
static cl::opt<std::string> targetCPU(
    "target-cpu", cl::init("host"),
    cl::desc("CPU to generate code for, as LLVM names it (skylake, znver3, "
             "x86-64-v3, ...); 'host': this machine's CPU and features"),
    cl::value_desc("name"), cl::cat(category));
static cl::opt<int64_t> attentionBlock(
    "attention-block", cl::init(256),
    cl::desc("Attention over more keys than this (or a dynamic number) is "
             "an online softmax over key blocks of this size, never "
             "materialising the [B,H,S,T] scores; 0: always materialise"),
    cl::value_desc("keys"), cl::cat(category));
enum class KVCache { InPlace, Concat };
static cl::opt<KVCache> kvCache(
    "kv-cache", cl::init(KVCache::InPlace),
    cl::desc("How a decoder's KV cache (past_* inputs, present_* = "
             "Concat(past, new) outputs) is updated"),
    cl::values(clEnumValN(KVCache::InPlace, "in-place",
                          "the new positions are written into a cache with "
                          "room for more, the attention reads its valid "
                          "prefix: no copy per step (default; the runtime "
                          "keeps tailor_model_run's past/present signature)"),
               clEnumValN(KVCache::Concat, "concat",
                          "as exported: every step copies the cache into a "
                          "new present buffer")),
    cl::cat(category));
static cl::opt<bool> raise(
    "raise", cl::init(true),
    cl::desc("Raise exported subgraphs to LLM ops in the raise phase "
             "(default on; --raise=false lowers the ONNX-level ops as "
             "imported)"),
    cl::cat(category));
static cl::opt<std::string> weightsFile(
    "weights",
    cl::desc("Trained weights replacing the model's (the model.safetensors "
             "of tailor-train --method full: PyTorch's names and layouts)"),
    cl::value_desc("file"), cl::cat(category));
static cl::list<std::string> loraAdapters(
    "lora-adapter",
    cl::desc("Merge this PEFT adapter into the base weights (a directory "
             "with adapter_config.json and adapter_model.safetensors: LoRA, "
             "DoRA or (IA)3); repeat for several"),
    cl::value_desc("dir"), cl::cat(category));
static cl::list<double> loraAdapterWeights(
    "lora-adapter-weight",
    cl::desc("Weight of each --lora-adapter's delta, in the same order "
             "(default 1 each)"),
    cl::value_desc("w"), cl::cat(category));
static cl::list<std::string> loraModuleMap(
    "lora-module-map",
    cl::desc("Rewrite adapter module names before matching them to the "
             "graph's linears: REGEX=>REPLACEMENT (\\1 for groups); repeat "
             "to apply several in order"),
    cl::value_desc("rule"), cl::cat(category));
static cl::opt<std::string> quantize(
    "quantize",
    cl::desc("Quantize the linears' weights (tailor-quantize): int8 = "
             "weight-only, one scale per output channel; int4 = weight-only, "
             "one scale per --quantize-group-size input rows; nf4 = QLoRA's "
             "4-bit NormalFloat, blocks of --quantize-group-size rows "
             "(dequantized in the model, then a float product; no ONNX "
             "export); w8a8 = int8 weights per output channel and int8 "
             "activations (one scale per token, at run time): int8 x int8 "
             "products"),
    cl::value_desc("mode"), cl::cat(category));
static cl::opt<int64_t> quantizeGroupSize(
    "quantize-group-size", cl::init(128),
    cl::desc("--quantize=int4 / nf4: input rows per scale (must divide "
             "every quantized linear's K)"),
    cl::value_desc("G"), cl::cat(category));
static cl::opt<bool> quantizeAsymmetric(
    "quantize-asymmetric", cl::init(false),
    cl::desc("--quantize=int4: min/max range with a zero point per group "
             "(default: symmetric)"),
    cl::cat(category));
static cl::opt<bool> quantizeEmbeddings(
    "quantize-embeddings", cl::init(true),
    cl::desc("With --quantize: store embedding tables as int8 too, one "
             "scale per row (token); =false keeps them in f32 (a "
             "--max-kl / --quantize-plan plan keeps them in f32: its "
             "measured KL covers the linears it quantizes)"),
    cl::cat(category));
static cl::opt<std::string> quantizeMethod(
    "quantize-method", cl::init("rtn"),
    cl::desc("--quantize=int4: rtn = round to nearest; gptq = error "
             "feedback through the inverse of the inputs' X^T X; awq = "
             "activation-aware input-channel scales (gptq and awq need "
             "--calibration from tailor-calibrate --hessian). "
             "--quantize=w8a8: rtn, or smoothquant = input-channel scales "
             "that move activation outliers into the weights (needs "
             "--calibration from tailor-calibrate)"),
    cl::value_desc("rtn|gptq|awq|smoothquant"), cl::cat(category));
static cl::opt<double> smoothAlpha(
    "smooth-alpha", cl::init(0.5),
    cl::desc("--quantize-method=smoothquant: migration strength in [0, 1] "
             "(s_k = max|x_k|^alpha / max|W_k|^(1 - alpha))"),
    cl::value_desc("alpha"), cl::cat(category));
static cl::opt<std::string> onnxInt4(
    "onnx-int4", cl::init("ops"),
    cl::desc("--emit=onnx: int4 weights as standard ONNX ops dequantizing "
             "int8-stored integers (ops: portable, about twice the packed "
             "size) or as ONNX Runtime's com.microsoft.MatMulNBits "
             "(matmulnbits: packed two per byte, ONNX Runtime's int4 kernel)"),
    cl::value_desc("ops|matmulnbits"), cl::cat(category));
static cl::opt<std::string> int4Activations(
    "int4-activations", cl::init("int8"),
    cl::desc("Activations of the int4 linears: int8 = quantized per row and "
             "weight group at run time, integer micro-kernel (fast; as "
             "llama.cpp's Q4 x Q8); f32 = exact, a float group contraction"),
    cl::value_desc("int8|f32"), cl::cat(category));
static cl::list<std::string> quantizeExclude(
    "quantize-exclude",
    cl::desc("Keep the linears whose module name matches this regular "
             "expression in f32 (e.g. lm_head); repeat for several"),
    cl::value_desc("regex"), cl::cat(category));
static cl::opt<std::string> prune(
    "prune",
    cl::desc("Prune the linears' weights by magnitude (tailor-prune): "
             "unstructured, N:M (e.g. 2:4), ffn-channels (removes hidden "
             "channels of SwiGLU / GELU blocks: smaller shapes) or heads "
             "(removes key/value heads with their query heads: smaller "
             "attention and KV cache)"),
    cl::value_desc("pattern"), cl::cat(category));
static cl::opt<double> pruneSparsity(
    "prune-sparsity", cl::init(0.5),
    cl::desc("--prune: fraction of weights (ffn-channels: of channels; "
             "heads: of key/value heads) removed, in [0, 1)"),
    cl::value_desc("s"), cl::cat(category));
static cl::opt<std::string> pruneMethod(
    "prune-method", cl::init("magnitude"),
    cl::desc("--prune: magnitude (|w|) or wanda (|w| x the input channel's "
             "activation norm; needs --calibration)"),
    cl::value_desc("method"), cl::cat(category));
static cl::list<std::string> pruneExclude(
    "prune-exclude",
    cl::desc("--prune: leave the linears whose module name matches this "
             "regular expression (e.g. lm_head); repeat for several"),
    cl::value_desc("regex"), cl::cat(category));
static cl::opt<std::string> calibration(
    "calibration",
    cl::desc("Activation statistics from tailor-calibrate (.safetensors), "
             "for --prune-method=wanda and --quantize-method=smoothquant; "
             "with --hessian also for --quantize-method=gptq and awq"),
    cl::value_desc("file"), cl::cat(category));
static cl::opt<double> maxKL(
    "max-kl",
    cl::desc("Accuracy budget: pick per linear the smallest of "
             "--kl-candidates whose measured KL contribution keeps the "
             "model's mean KL(fp32 || compressed) on the --kl-tokens windows "
             "at most this (nats/token); prints the choice per linear"),
    cl::value_desc("nats"), cl::cat(category));
static cl::opt<std::string> klTokens(
    "kl-tokens",
    cl::desc("--max-kl: calibration token windows (int64 .npy [N, W+1], or "
             "[T] cut into windows of 128) the KL is measured on"),
    cl::value_desc("file.npy"), cl::cat(category));
static cl::list<std::string> klCandidates(
    "kl-candidates", cl::CommaSeparated,
    cl::desc("--max-kl: the settings a linear may take besides f32 "
             "(default int4,int8): int4 (--quantize-group-size, "
             "--quantize-asymmetric, "
             "--quantize-method gptq / awq apply), int4-gN, int8, w8a8"),
    cl::value_desc("list"), cl::cat(category));
static cl::opt<unsigned> klWindows(
    "kl-windows", cl::init(16),
    cl::desc("--max-kl: measure on at most this many windows (default 16; "
             "one run over them per linear and candidate)"),
    cl::cat(category));
static cl::opt<std::string> planOut(
    "plan-out",
    cl::desc("--max-kl: also write the plan (per linear: the choice and the "
             "measured KL of each candidate) as JSON, for --quantize-plan"),
    cl::value_desc("file.json"), cl::cat(category));
static cl::opt<std::string> quantizePlanPath(
    "quantize-plan",
    cl::desc("Quantize each linear as a plan from --plan-out says (its "
             "\"layers\": name and choice), without measuring again"),
    cl::value_desc("file.json"), cl::cat(category));
static cl::opt<std::string> headerPath(
    "header",
    cl::desc("Also write a C header for the model (its signature as "
             "constants) to this file"),
    cl::value_desc("file"), cl::cat(category));
static cl::opt<std::string> headerPrefix(
    "name",
    cl::desc("Prefix of the header's macros (default: the input's stem)"),
    cl::value_desc("prefix"), cl::cat(category));
static cl::opt<bool> emitBytecode("emit-bytecode", cl::init(false),
                                  cl::desc("Write MLIR as bytecode"),
                                  cl::cat(category));
static cl::opt<bool> quiet("quiet", cl::init(false),
                           cl::desc("Print no progress on standard error"),
                           cl::cat(category));

namespace {
/// Progress on stderr: a line as each step starts (diagnostics of a failing
/// step follow it), the time of every step in the last line.
class Progress {
public:
  void step(StringRef what, StringRef detail = "") {
    finish();
    if (!quiet)
      llvm::errs() << TAILOR_TOOL ": " << what << detail << "\n";
    name = what.str();
    start = std::chrono::steady_clock::now();
    open = true;
  }
  void finish() {
    if (!open)
      return;
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                             start)
                   .count();
    summary += (summary.empty() ? "" : ", ") + name + " " +
               llvm::formatv("{0:F2}", s).str() + " s";
    total += s;
    open = false;
  }
  /// "3.41 s (import 0.02 s, ...)"
  std::string report() {
    finish();
    return llvm::formatv("{0:F2}", total).str() + " s (" + summary + ")";
  }

private:
  std::chrono::steady_clock::time_point start;
  std::string name, summary;
  double total = 0;
  bool open = false;
};
} // namespace

/// Bytes of the module's constant tensors (the weights): element count x
/// element width, rounded up to bytes.
static uint64_t constantBytes(ModuleOp module) {
  uint64_t bytes = 0;
  module.walk([&](Operation *op) {
    if (op->getNumOperands() != 0 || op->getNumResults() != 1 ||
        !op->hasTrait<OpTrait::ConstantLike>())
      return;
    auto type = dyn_cast<RankedTensorType>(op->getResult(0).getType());
    if (!type || !type.hasStaticShape())
      return;
    Type elt = type.getElementType();
    unsigned bits = elt.isIntOrFloat() ? elt.getIntOrFloatBitWidth() : 32;
    bytes += (uint64_t(type.getNumElements()) * bits + 7) / 8;
  });
  return bytes;
}

static std::string formatBytes(uint64_t bytes) {
  if (bytes >= 1000000)
    return llvm::formatv("{0:f2} MB", bytes / 1e6).str();
  if (bytes >= 1000)
    return llvm::formatv("{0:f1} kB", bytes / 1e3).str();
  return std::to_string(bytes) + " B";
}

static int error(const Twine &message) {
  llvm::errs() << TAILOR_TOOL ": error: " << message << "\n";
  return 1;
}

static std::string defaultOutput(StringRef extension) {
  if (inputPath == "-")
    return ("model" + extension).str();
  SmallString<256> path(llvm::sys::path::filename(inputPath));
  llvm::sys::path::replace_extension(path, extension);
  return path.str().str();
}

/// Writes `text` atomically (or to stdout for "-").
static bool writeText(StringRef path,
                      llvm::function_ref<void(raw_ostream &)> write) {
  llvm::Error err =
      llvm::writeToOutput(path, [&](raw_ostream &os) -> llvm::Error {
        write(os);
        return llvm::Error::success();
      });
  if (err) {
    error("cannot write '" + path + "': " + llvm::toString(std::move(err)));
    return false;
  }
  return true;
}

int main(int argc, char **argv) {
  llvm::InitLLVM y(argc, argv);
  registerPassManagerCLOptions();
  registerDefaultTimingManagerCLOptions();
  registerAsmPrinterCLOptions();
  registerMLIRContextCLOptions();
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      argc, argv,
#ifdef TAILOR_EXPORT_TOOL
      "tailor-export: write a model as ONNX after LoRA merge, pruning and "
      "quantization\n(tailor-compile --emit=onnx; the same options).\n\n"
#endif
      "tailor-compile: compile a model ahead of time.\n\n"
      "Phases: import -> raise -> optimize -> linalg -> llvm -> machine "
      "code.\nThe default writes <input>.so: the model's code for this CPU, "
      "its weights as\nread-only data and the C runtime "
      "(include/tailor-c/tailor.h), loadable with\ntailor_model_load, "
      "tailor-run, or tailor.load in Python.\n");

  if (optLevel > 3)
    return error("-O" + Twine(optLevel.getValue()) + ": the level must be 0-3");
  if (onnxInt4 != "ops" && onnxInt4 != "matmulnbits")
    return error("--onnx-int4 must be ops or matmulnbits, not '" + onnxInt4 +
                 "'");
  if (int4Activations != "int8" && int4Activations != "f32")
    return error("--int4-activations must be int8 or f32, not '" +
                 int4Activations + "'");
  if (attentionBlock < 0)
    return error("--attention-block must be >= 0 (0: materialise the "
                 "scores)");
  if (!loraAdapterWeights.empty() &&
      loraAdapterWeights.size() != loraAdapters.size())
    return error("--lora-adapter-weight given " +
                 Twine(loraAdapterWeights.size()) + " time(s) for " +
                 Twine(loraAdapters.size()) +
                 " --lora-adapter(s): give one weight per adapter or none");
  if (!lookupTarget(pipeline))
    return error("unknown pipeline '" + pipeline + "' (known: " +
                 listTargets() + ")");
  auto from = parseCompilePhase(inputPhase);
  if (!from)
    return error("unknown --input-phase '" + inputPhase +
                 "' (import, raise, optimize, linalg, llvm)");
  CompilePhase to = CompilePhase::LLVM;
  if (compileTo.getNumOccurrences()) {
    auto phase = parseCompilePhase(compileTo);
    if (!phase)
      return error("unknown --compile-to phase '" + compileTo +
                   "' (import, raise, optimize, linalg, llvm)");
    to = *phase;
    if (emit.getNumOccurrences() && emit != Emit::MLIR)
      return error("--compile-to writes MLIR; it cannot be combined with "
                   "--emit other than mlir");
    emit = Emit::MLIR;
  }
  if (*from > to)
    return error("--input-phase " + inputPhase + " is past --compile-to " +
                 compileTo);
  if (emit == Emit::ONNX && *from > CompilePhase::Optimize)
    return error("--emit=onnx needs an input at the optimize phase or "
                 "before");
  bool needsSignature =
      emit == Emit::SharedObject || emit == Emit::Object ||
      emit == Emit::LLVM || emit == Emit::Header || !headerPath.empty();
  if (needsSignature && *from > CompilePhase::Optimize)
    return error("a compiled artifact or header needs the model's signature: "
                 "the input must be at the optimize phase or before");
  bool planning = maxKL.getNumOccurrences() > 0;
  if (planning) {
    if (klTokens.empty())
      return error("--max-kl needs --kl-tokens (token windows to measure "
                   "the KL on)");
    if (!(maxKL >= 0) || !std::isfinite(maxKL))
      return error("--max-kl must be a KL >= 0 in nats/token");
    if (!quantize.empty() || !quantizePlanPath.empty())
      return error("--max-kl picks the quantization per linear: it cannot be "
                   "combined with --quantize or --quantize-plan");
    if (!prune.empty())
      return error("--max-kl cannot be combined with --prune yet (the "
                   "budget is measured on unpruned weights)");
    if (*from > CompilePhase::Raise || to < CompilePhase::Optimize)
      return error("--max-kl works between the raise and optimize phases: "
                   "the input must be at the raise phase or before and "
                   "--compile-to at optimize or later");
    if (klWindows == 0)
      return error("--kl-windows must be at least 1");
  } else if (!klTokens.empty() || !klCandidates.empty() ||
             !planOut.empty() || klWindows.getNumOccurrences()) {
    return error("--kl-tokens, --kl-candidates, --kl-windows and --plan-out "
                 "go with --max-kl");
  }
  std::vector<KLCandidate> candidates;
  for (const std::string &name :
       klCandidates.empty() ? std::vector<std::string>{"int4", "int8"}
                            : std::vector<std::string>(klCandidates.begin(),
                                                       klCandidates.end())) {
    auto c = parseKLCandidate(name, quantizeGroupSize, quantizeMethod,
                              !quantizeAsymmetric);
    if (!c)
      return error("--kl-candidates: " + llvm::toString(c.takeError()));
    if (llvm::any_of(candidates,
                     [&](const KLCandidate &o) { return o.name == c->name; }))
      return error("--kl-candidates: '" + name + "' given twice");
    candidates.push_back(std::move(*c));
  }
  std::vector<QuantizeStep> quantizePlan;
  if (!quantizePlanPath.empty()) {
    if (!quantize.empty())
      return error("--quantize-plan says how each linear is quantized: it "
                   "cannot be combined with --quantize");
    auto steps = readQuantizePlan(quantizePlanPath, quantizeGroupSize,
                                  quantizeMethod, !quantizeAsymmetric);
    if (!steps)
      return error("--quantize-plan: " + llvm::toString(steps.takeError()));
    quantizePlan = std::move(*steps);
  }
  auto cpu = resolveTargetCPU(targetCPU);
  if (!cpu)
    return error(llvm::toString(cpu.takeError()));

  DialectRegistry registry;
  mlir::tailor::registerToolEnvironment(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  // Diagnostics name the ONNX node; a dump of the op (or the whole model)
  // would bury them.
  context.printOpOnDiagnostic(false);
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler handler(sourceMgr, &context);

  Progress progress;
  progress.step("import", " " + inputPath);
  OwningOpRef<ModuleOp> module;
  StringRef in(inputPath);
  if (in.ends_with(".mlir") || in.ends_with(".mlirbc") || in == "-") {
    std::string message;
    auto file = openInputFile(inputPath, &message);
    if (!file)
      return error(message);
    sourceMgr.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
    module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  } else {
    if (*from != CompilePhase::Import)
      return error("--input-phase applies to .mlir inputs only");
    module = importOnnxFile(inputPath, &context);
  }
  if (!module) {
    progress.finish();
    return 1;
  }

  CompileOptions options;
  options.target = pipeline;
  options.targetOptions.optLevel = optLevel;
  options.targetOptions.attentionBlock = attentionBlock;
  options.targetOptions.kvCacheInPlace = kvCache == KVCache::InPlace;
  options.targetOptions.int4Activations = int4Activations;
  options.targetOptions.cpu = targetCPU; // "host" keeps the host's features
  options.raise = raise || to == CompilePhase::Raise;
  // ONNX has no single op for attention, rotary or MoE: an export raises
  // only what the compression passes need (linears, activations, norms).
  if (emit == Emit::ONNX)
    options.raisePhases = 1;
  options.loraAdapters = loraAdapters;
  options.weightsFile = weightsFile;
  options.loraAdapterWeights = loraAdapterWeights;
  options.loraModuleMap = loraModuleMap;
  options.quantize = quantize;
  options.prune = prune;
  options.pruneSparsity = pruneSparsity;
  options.pruneMethod = pruneMethod;
  options.pruneExclude = pruneExclude;
  options.calibration = calibration;
  options.quantizeExclude = quantizeExclude;
  options.quantizeGroupSize = quantizeGroupSize;
  options.quantizeSymmetric = !quantizeAsymmetric;
  options.quantizeEmbeddings = quantizeEmbeddings;
  options.quantizeMethod = quantizeMethod;
  options.smoothAlpha = smoothAlpha;
  options.quantizePlan = quantizePlan;
  ModelSignature signature;
  CompilePhase at = *from;
  // The signature is read at the optimize phase; a header-only run stops
  // there.
  CompilePhase last = emit == Emit::Header || emit == Emit::ONNX
                          ? CompilePhase::Optimize
                          : to;
  // The optimize phase is where LoRA merging, pruning and quantization
  // change the weights: say what they did to their size.
  bool compresses = !options.loraAdapters.empty() ||
                    !options.quantize.empty() || !options.prune.empty() ||
                    !options.quantizePlan.empty() || planning;
  for (int p = int(at) + 1; p <= int(last); ++p) {
    auto phase = CompilePhase(p);
    if (phase == CompilePhase::Optimize && planning) {
      // --max-kl: measure on the raised model, then quantize by the plan.
      progress.step("KL budget", llvm::formatv(" {0:e}", maxKL.getValue()).str());
      KLBudgetOptions budget;
      budget.maxKL = maxKL;
      budget.candidates = candidates;
      budget.tokensPath = klTokens;
      budget.windows = klWindows;
      FailureOr<KLPlan> plan = planForKLBudget(
          *module, options, budget, quiet ? llvm::nulls() : llvm::errs());
      if (failed(plan)) {
        progress.finish();
        return 1;
      }
      if (!quiet)
        plan->print(llvm::errs());
      if (!planOut.empty() &&
          !writeText(planOut, [&](raw_ostream &os) {
            os << llvm::formatv("{0:2}", plan->toJSON()) << "\n";
          }))
        return 1;
      options.quantizePlan = plan->steps(candidates);
    }
    progress.step(compilePhaseName(phase).str());
    uint64_t before = 0;
    if (phase == CompilePhase::Optimize && compresses && !quiet)
      before = constantBytes(*module);
    if (failed(lowerModule(*module, options, CompilePhase(p - 1), phase,
                           needsSignature ? &signature : nullptr))) {
      progress.finish();
      return 1;
    }
    if (phase == CompilePhase::Optimize && compresses && !quiet)
      llvm::errs() << TAILOR_TOOL ": weights " << formatBytes(before)
                   << " -> " << formatBytes(constantBytes(*module))
                   << " (constants after "
                   << (options.loraAdapters.empty() ? "" : "LoRA merge, ")
                   << (options.prune.empty() ? "" : "pruning, ")
                   << (options.quantize.empty() &&
                               options.quantizePlan.empty()
                           ? ""
                           : "quantization, ")
                   << "clean-up)\n";
  }

  std::string prefix = headerPrefix.empty()
                           ? llvm::sys::path::stem(inputPath).str()
                           : headerPrefix.getValue();
  auto header = [&] {
    return generateHeader(signature, prefix,
                          llvm::sys::path::filename(inputPath));
  };
  if (!headerPath.empty() &&
      !writeText(headerPath, [&](raw_ostream &os) { os << header(); }))
    return 1;

  switch (emit) {
  case Emit::MLIR: {
    progress.finish();
    std::string out = outputPath.empty() ? "-" : outputPath.getValue();
    llvm::Error err =
        llvm::writeToOutput(out, [&](raw_ostream &os) -> llvm::Error {
          if (emitBytecode && failed(writeBytecodeToFile(*module, os)))
            return llvm::createStringError("cannot write bytecode");
          if (!emitBytecode)
            module->print(os);
          return llvm::Error::success();
        });
    if (err)
      return error("cannot write '" + out + "': " +
                   llvm::toString(std::move(err)));
    return 0;
  }
  case Emit::ONNX: {
    std::string out =
        outputPath.empty() ? defaultOutput(".tailor.onnx") : outputPath.getValue();
    if (out == "-")
      return error("an ONNX model cannot go to standard output");
    progress.step("ONNX");
    OnnxExportOptions exportOptions;
    exportOptions.producer = TAILOR_TOOL " " TAILOR_VERSION;
    exportOptions.matMulNBits = onnxInt4 == "matmulnbits";
    if (failed(exportOnnx(*module, out, exportOptions))) {
      progress.finish();
      return 1;
    }
    progress.finish();
    if (!quiet)
      llvm::errs() << TAILOR_TOOL ": wrote " << out << " in "
                   << progress.report() << "\n";
    return 0;
  }
  case Emit::Header: {
    progress.finish();
    std::string out =
        outputPath.empty() ? defaultOutput(".h") : outputPath.getValue();
    return writeText(out, [&](raw_ostream &os) { os << header(); }) ? 0 : 1;
  }
  default:
    break;
  }

  AOTOptions aot;
  aot.target = options.targetOptions;
  aot.producer = ("tailor-compile " TAILOR_VERSION " (" + pipeline + ", -O" +
                  Twine(optLevel.getValue()) + ", " + *cpu + ")")
                     .str();
  ArtifactKind kind = emit == Emit::Object ? ArtifactKind::Object
                      : emit == Emit::LLVM ? ArtifactKind::LLVMIR
                                           : ArtifactKind::SharedObject;
  StringRef extension = emit == Emit::Object ? ".o"
                        : emit == Emit::LLVM ? ".ll"
                                             : ".so";
  std::string out =
      outputPath.empty() ? defaultOutput(extension) : outputPath.getValue();
  progress.step(emit == Emit::LLVM ? "LLVM IR" : "machine code and link");
  if (out == "-") {
    if (kind != ArtifactKind::LLVMIR)
      return error("a binary artifact cannot go to standard output");
    // writeArtifact writes files: go through a temporary one.
    SmallString<128> temp;
    if (llvm::sys::fs::createTemporaryFile("tailor-compile", "ll", temp))
      return error("cannot create a temporary file");
    llvm::FileRemover remove(temp);
    if (llvm::Error err = writeArtifact(*module, signature, aot, kind, temp))
      return error(llvm::toString(std::move(err)));
    progress.finish();
    auto buffer = llvm::MemoryBuffer::getFile(temp);
    if (!buffer)
      return error("cannot read '" + temp + "'");
    llvm::outs() << (*buffer)->getBuffer();
    return 0;
  }
  if (llvm::Error err = writeArtifact(*module, signature, aot, kind, out)) {
    progress.finish();
    return error(llvm::toString(std::move(err)));
  }
  if (!quiet)
    llvm::errs() << "tailor-compile: wrote " << out << " ("
                 << signature.inputs.size() << " inputs, "
                 << signature.outputs.size() << " outputs) in "
                 << progress.report() << "\n";
  return 0;
}
