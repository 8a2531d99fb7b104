//===- tailor-run.cpp - Run a model: JIT-compiled for this CPU, or AOT ----===//
//
// Every run goes through the C runtime (tailor-c/tailor.h): a compiled .so
// is loaded as users load it; an .onnx/.mlir model is JIT-compiled and run
// through the same descriptor.
//
//   tailor-run model.onnx                       random inputs, print outputs
//   tailor-run model.so                         the same, ahead-of-time code
//   tailor-run model.onnx -i a.npy -i b.pb      inputs from files (in order)
//   tailor-run model.onnx --check DIR           ONNX backend-test data set:
//                                               compare with output_N.pb
//   tailor-run model.onnx --bench 20            time 20 runs

#include "tailor-c/tailor.h"
#include "tailor/Execution/JitModel.h"
#include "tailor/Import/OnnxImporter.h"
#include "tailor/InitTailor.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>

using namespace mlir;
using namespace mlir::tailor;
namespace cl = llvm::cl;

static cl::OptionCategory category("tailor-run options");
static cl::opt<std::string> modelPath(cl::Positional, cl::Required,
                                      cl::desc("<model.onnx | model.mlir | model.so>"),
                                      cl::cat(category));
static cl::list<std::string>
    inputFiles("i",
               cl::desc("An input, in order: a .npy or TensorProto .pb "
                        "file (default: random data)"),
               cl::value_desc("file"), cl::cat(category));
static cl::opt<std::string>
    checkDir("check",
             cl::desc("Run an ONNX backend-test data set (a folder with "
                      "input_N.pb / output_N.pb, or a test folder with "
                      "test_data_set_*) and compare; exit 1 beyond tolerance"),
             cl::value_desc("dir"), cl::cat(category));
static cl::opt<double> relTol("rtol", cl::init(1e-3),
                              cl::desc("Relative tolerance for --check"),
                              cl::cat(category));
static cl::opt<double> absTol("atol", cl::init(1e-4),
                              cl::desc("Absolute tolerance for --check"),
                              cl::cat(category));
static cl::opt<bool> raise("raise", cl::init(true),
                           cl::desc("Raise exported subgraphs to LLM ops "
                                    "before lowering (default on; "
                                    "--raise=false keeps ONNX-level ops)"),
                           cl::cat(category));
static cl::opt<unsigned> optLevel("O", cl::init(2), cl::Prefix,
                                  cl::desc("Optimisation level (0-3)"),
                                  cl::cat(category));
static cl::opt<int64_t> attentionBlock(
    "attention-block", cl::init(256),
    cl::desc("JIT: attention over more keys than this (or a dynamic number) "
             "is an online softmax over key blocks of this size; 0: always "
             "materialise the scores"),
    cl::value_desc("keys"), cl::cat(category));
static cl::opt<unsigned> bench("bench", cl::init(0),
                               cl::desc("Time N runs of the model call (outputs stay in the runtime's result, not copied) and print the mean latency"),
                               cl::value_desc("N"), cl::cat(category));
static cl::opt<int64_t>
    dynamicSize("dynamic-size", cl::init(1),
                cl::desc("Size used for dynamic dims of random inputs"),
                cl::cat(category));

static cl::opt<unsigned> generate(
    "generate", cl::init(0),
    cl::desc("Causal LM: greedy-decode N tokens after the prompt, feeding "
             "the present_* outputs back as past_* inputs (KV cache); "
             "prints prefill latency and decode tokens/s"),
    cl::value_desc("N"), cl::cat(category));
static cl::opt<std::string>
    prompt("prompt", cl::desc("Prompt token ids for --generate, comma-separated"),
           cl::value_desc("ids"), cl::cat(category));
static cl::opt<unsigned> promptLength(
    "prompt-length", cl::init(8),
    cl::desc("Length of a random (seeded) prompt when --prompt is not given"),
    cl::cat(category));

static cl::opt<unsigned> prefillRuns(
    "prefill-runs", cl::init(1),
    cl::desc("--generate: time the prefill over N runs after one untimed "
             "warm-up and print the median (1: a single cold run)"),
    cl::value_desc("N"), cl::cat(category));
static cl::opt<float> temperature(
    "temperature", cl::init(0.0f),
    cl::desc("--generate: sampling temperature; 0 = greedy"),
    cl::cat(category));
static cl::opt<int> topK("top-k", cl::init(0),
                         cl::desc("--generate: sample among the k most "
                                  "likely tokens; 0 = all"),
                         cl::cat(category));
static cl::opt<float> topP("top-p", cl::init(1.0f),
                           cl::desc("--generate: nucleus sampling mass "
                                    "(0, 1]; 1 = all"),
                           cl::cat(category));
static cl::opt<float> repetitionPenalty(
    "repetition-penalty", cl::init(1.0f),
    cl::desc("--generate: divide (multiply, if negative) the logits of "
             "tokens already in the context; 1 = none"),
    cl::cat(category));
static cl::opt<uint64_t> seed("seed", cl::init(0),
                              cl::desc("--generate: sampling seed"),
                              cl::cat(category));
static cl::opt<int64_t> eosToken("eos", cl::init(-1),
                                 cl::desc("--generate: stop after this "
                                          "token id; -1 = never"),
                                 cl::cat(category));

static cl::opt<unsigned> numThreads(
    "num-threads", cl::init(0),
    cl::desc("Threads for the compiled code's parallel loops (OpenMP); "
             "0: OMP_NUM_THREADS or all cores"),
    cl::cat(category));

static OwningOpRef<ModuleOp> load(MLIRContext &context) {
  if (StringRef(modelPath).ends_with(".onnx"))
    return importOnnxFile(modelPath, &context);
  std::string error;
  auto file = openInputFile(modelPath, &error);
  if (!file) {
    llvm::errs() << "tailor-run: " << error << "\n";
    return nullptr;
  }
  llvm::SourceMgr sm;
  sm.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
  return parseSourceFile<ModuleOp>(sm, &context);
}

static HostTensor randomTensor(const tailor_tensor_info &spec,
                               std::mt19937 &rng) {
  HostTensor t;
  t.name = spec.name;
  t.dtype = spec.dtype;
  for (int32_t i = 0; i < spec.rank; ++i)
    t.shape.push_back(spec.shape[i] < 0 ? dynamicSize : spec.shape[i]);
  int64_t n = t.numElements(), size = dtypeSize(t.dtype);
  t.data.resize(n * size);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (int64_t i = 0; i < n; ++i) {
    if (t.dtype == 1) {
      float v = dist(rng);
      memcpy(t.data.data() + i * 4, &v, 4);
    } else if (t.dtype == 7) {
      int64_t v = rng() % 8;
      memcpy(t.data.data() + i * 8, &v, 8);
    } else {
      for (int64_t b = 0; b < size; ++b)
        t.data[i * size + b] = b == 0 ? char(rng() % 2) : 0;
    }
  }
  return t;
}

/// Element `i` of a tensor as a double (for comparisons and printing).
static double valueAt(const HostTensor &t, int64_t i) {
  const char *p = t.data.data() + i * dtypeSize(t.dtype);
  switch (t.dtype) {
  case 1: {
    float v;
    memcpy(&v, p, 4);
    return v;
  }
  case 11: {
    double v;
    memcpy(&v, p, 8);
    return v;
  }
  case 2:
    return (uint8_t)*p;
  case 3:
    return (int8_t)*p;
  case 9:
    return *p != 0;
  case 4: {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
  }
  case 5: {
    int16_t v;
    memcpy(&v, p, 2);
    return v;
  }
  case 6: {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
  }
  case 12: {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
  }
  case 7: {
    int64_t v;
    memcpy(&v, p, 8);
    return (double)v;
  }
  case 13: {
    uint64_t v;
    memcpy(&v, p, 8);
    return (double)v;
  }
  case 10: { // float16
    uint16_t h;
    memcpy(&h, p, 2);
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double v = e == 0    ? std::ldexp(m, -24)
               : e == 31 ? (m ? NAN : INFINITY)
                         : std::ldexp(m + 1024, e - 25);
    return (h & 0x8000) ? -v : v;
  }
  case 16: {
    uint16_t h;
    memcpy(&h, p, 2);
    uint32_t w = uint32_t(h) << 16;
    float v;
    memcpy(&v, &w, 4);
    return v;
  }
  default:
    return NAN;
  }
}

/// Compares one output; prints max abs/rel error. True when within tolerance.
static bool compare(const HostTensor &got, const HostTensor &want,
                    StringRef name) {
  llvm::outs() << "  " << name << ": ";
  if (got.shape != want.shape || got.dtype != want.dtype) {
    llvm::outs() << "FAIL: got " << describe(got.dtype, got.shape)
                 << ", expected " << describe(want.dtype, want.shape) << "\n";
    return false;
  }
  double maxAbs = 0, maxRel = 0;
  bool ok = true;
  for (int64_t i = 0, n = want.numElements(); i < n; ++i) {
    double g = valueAt(got, i), w = valueAt(want, i);
    if (std::isnan(w) || std::isnan(g)) {
      if (std::isnan(w) != std::isnan(g))
        ok = false;
      continue;
    }
    if (std::isinf(w) || std::isinf(g)) {
      if (g != w)
        ok = false;
      continue;
    }
    double abs = std::fabs(g - w), rel = abs / std::max(std::fabs(w), 1e-30);
    maxAbs = std::max(maxAbs, abs);
    if (abs > absTol)
      maxRel = std::max(maxRel, rel);
    if (abs > absTol + relTol * std::fabs(w))
      ok = false;
  }
  llvm::outs() << (ok ? "ok" : "FAIL") << " (max abs " << maxAbs << ", max rel beyond atol "
               << maxRel << ", " << describe(got.dtype, got.shape) << ")\n";
  return ok;
}

/// The data sets under `dir`: `dir` itself when it holds output_0.pb,
/// otherwise each sub-folder that does (test_data_set_N, prefill,
/// decode_NN, ...), sorted by name.
static std::vector<std::string> dataSets(StringRef dir) {
  auto holdsSet = [](StringRef d) {
    llvm::SmallString<256> p(d);
    llvm::sys::path::append(p, "output_0.pb");
    return llvm::sys::fs::exists(p);
  };
  std::vector<std::string> sets;
  if (holdsSet(dir))
    return {dir.str()};
  std::error_code ec;
  for (llvm::sys::fs::directory_iterator it(dir, ec), end; it != end && !ec;
       it.increment(ec))
    if (holdsSet(it->path()))
      sets.push_back(it->path());
  std::sort(sets.begin(), sets.end());
  return sets;
}

static bool readNumbered(StringRef dir, StringRef prefix,
                         std::vector<HostTensor> &out) {
  for (int i = 0;; ++i) {
    llvm::SmallString<256> path(dir);
    llvm::sys::path::append(path, prefix + std::to_string(i) + ".pb");
    if (!llvm::sys::fs::exists(path))
      return true;
    auto t = readTensorProtoFile(path);
    if (!t) {
      llvm::errs() << "tailor-run: " << llvm::toString(t.takeError()) << "\n";
      return false;
    }
    out.push_back(std::move(*t));
  }
}

/// A model behind the C runtime, with the JIT's state when it made it.
struct LoadedModel {
  std::unique_ptr<JitModel> jit;
  tailor_model *model = nullptr;
  ~LoadedModel() { tailor_model_unload(model); }

  std::vector<tailor_tensor_info> inputs() const {
    std::vector<tailor_tensor_info> out(tailor_model_num_inputs(model));
    for (size_t i = 0; i < out.size(); ++i)
      (void)tailor_model_input_info(model, int32_t(i), &out[i]);
    return out;
  }
  std::string outputName(int32_t i) const {
    tailor_tensor_info info;
    if (tailor_model_output_info(model, i, &info) != TAILOR_OK)
      return "output_" + std::to_string(i);
    return info.name;
  }

  /// Runs on host tensors; outputs are copied into host tensors unless
  /// `out` is null (--bench times the model call, not the host copy).
  bool run(const std::vector<HostTensor> &in, std::vector<HostTensor> *out) {
    std::vector<tailor_tensor> views;
    for (const HostTensor &t : in)
      views.push_back({t.dtype, int32_t(t.shape.size()), t.shape.data(),
                       nullptr, const_cast<char *>(t.data.data())});
    tailor_result *result = nullptr;
    if (tailor_model_run(model, views.data(), int32_t(views.size()),
                         &result) != TAILOR_OK) {
      llvm::errs() << "tailor-run: " << tailor_last_error() << "\n";
      return false;
    }
    if (!out) {
      tailor_result_free(result);
      return true;
    }
    out->clear();
    for (int32_t i = 0, n = tailor_result_num_outputs(result); i < n; ++i) {
      tailor_tensor v;
      (void)tailor_result_output(result, i, &v);
      HostTensor t;
      t.name = outputName(i);
      t.dtype = v.dtype;
      t.shape.assign(v.shape, v.shape + v.rank);
      t.data.resize(t.numElements() * dtypeSize(t.dtype));
      std::memcpy(t.data.data(), v.data, t.data.size());
      out->push_back(std::move(t));
    }
    tailor_result_free(result);
    return true;
  }
};

/// --generate: prefill with the prompt, then sample one token at a time;
/// the runtime's session owns the KV cache (past_* inputs fed from the
/// present_* outputs without copies).
static int runGenerate(LoadedModel &loaded) {
  tailor_session *session = nullptr;
  if (tailor_session_create(loaded.model, &session) != TAILOR_OK) {
    llvm::errs() << "tailor-run: --generate: " << tailor_last_error() << "\n";
    return 1;
  }
  std::unique_ptr<tailor_session, void (*)(tailor_session *)> owner(
      session, tailor_session_free);
  std::vector<int64_t> ids;
  if (!prompt.empty()) {
    for (StringRef tok : llvm::split(StringRef(prompt), ',')) {
      int64_t v;
      if (tok.trim().getAsInteger(10, v)) {
        llvm::errs() << "tailor-run: bad token id '" << tok << "' in --prompt\n";
        return 1;
      }
      ids.push_back(v);
    }
  } else {
    std::mt19937 rng(0);
    int64_t vocab = tailor_session_vocab_size(session);
    if (vocab <= 0)
      vocab = 256;
    for (unsigned i = 0; i < promptLength; ++i)
      ids.push_back(std::uniform_int_distribution<int64_t>(0, vocab - 1)(rng));
  }
  if (ids.empty()) {
    llvm::errs() << "tailor-run: the prompt is empty\n";
    return 1;
  }
  tailor_sampling params = tailor_sampling_default();
  params.temperature = temperature;
  params.top_k = topK;
  params.top_p = topP;
  params.repetition_penalty = repetitionPenalty;
  params.seed = seed;
  tailor_sampler *sampler = nullptr;
  if (tailor_sampler_create(&params, &sampler) != TAILOR_OK) {
    llvm::errs() << "tailor-run: " << tailor_last_error() << "\n";
    return 2;
  }
  std::unique_ptr<tailor_sampler, void (*)(tailor_sampler *)> samplerOwner(
      sampler, tailor_sampler_free);

  using Clock = std::chrono::steady_clock;
  auto ms = [](Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
  };
  std::vector<int64_t> generated;
  const float *logits = nullptr;
  // --prefill-runs N > 1: one warm-up, then the median of N timed runs
  // (the session is reset between them; the last one stays).
  std::vector<double> prefillTimes;
  unsigned runs = std::max(1u, prefillRuns.getValue());
  for (unsigned r = 0; r < (runs > 1 ? runs + 1 : 1); ++r) {
    tailor_session_reset(session);
    auto t0 = Clock::now();
    if (tailor_session_prefill(session, ids.data(), ids.size(), &logits) !=
        TAILOR_OK) {
      llvm::errs() << "tailor-run: prefill: " << tailor_last_error() << "\n";
      return 1;
    }
    if (runs == 1 || r > 0)
      prefillTimes.push_back(ms(t0, Clock::now()));
  }
  std::sort(prefillTimes.begin(), prefillTimes.end());
  double prefillMs = prefillTimes[prefillTimes.size() / 2], decodeMs = 0;
  std::vector<int64_t> context = ids;
  for (unsigned step = 0; step < generate; ++step) {
    int64_t next;
    if (tailor_sampler_sample(sampler, logits,
                              tailor_session_vocab_size(session),
                              context.data(), context.size(),
                              &next) != TAILOR_OK) {
      llvm::errs() << "tailor-run: " << tailor_last_error() << "\n";
      return 1;
    }
    generated.push_back(next);
    context.push_back(next);
    if (next == eosToken || step + 1 == generate)
      break;
    auto t1 = Clock::now();
    if (tailor_session_decode_step(session, next, &logits) != TAILOR_OK) {
      llvm::errs() << "tailor-run: decode step " << step << ": "
                   << tailor_last_error() << "\n";
      return 1;
    }
    decodeMs += ms(t1, Clock::now());
  }
  size_t steps = generated.empty() ? 0 : generated.size() - 1;
  llvm::outs() << "prompt: " << ids.size() << " tokens\n";
  llvm::outs() << "generated:";
  for (int64_t t : generated)
    llvm::outs() << " " << t;
  llvm::outs() << "\n";
  llvm::outs() << "prefill: " << llvm::format("%.3f", prefillMs) << " ms ("
               << llvm::format("%.1f", ids.size() * 1000.0 / prefillMs)
               << " tokens/s)";
  if (runs > 1)
    llvm::outs() << " median of " << runs << " warm runs";
  llvm::outs() << "\n";
  if (steps)
    llvm::outs() << "decode: " << llvm::format("%.3f", decodeMs / steps)
                 << " ms/token (" << llvm::format("%.1f", steps * 1000.0 / decodeMs)
                 << " tokens/s) over " << steps << " steps\n";
  return 0;
}

/// Loads a compiled .so, or JIT-compiles an .onnx/.mlir model.
static bool loadModel(LoadedModel &loaded) {
  if (StringRef(modelPath).ends_with(".so")) {
    if (tailor_model_load(modelPath.c_str(), &loaded.model) != TAILOR_OK) {
      llvm::errs() << "tailor-run: " << tailor_last_error() << "\n";
      return false;
    }
    llvm::outs() << "loaded " << modelPath << " ("
                 << tailor_model_producer(loaded.model) << ")\n";
    return true;
  }
  DialectRegistry registry;
  mlir::tailor::registerToolEnvironment(registry);
  static MLIRContext context(registry);
  context.loadAllAvailableDialects();
  // Diagnostics name the ONNX node; a dump of the op (or the whole model)
  // would bury them.
  context.printOpOnDiagnostic(false);

  OwningOpRef<ModuleOp> module = load(context);
  if (!module)
    return false;
  TargetOptions options;
  options.optLevel = optLevel;
  options.attentionBlock = attentionBlock;
  auto start = std::chrono::steady_clock::now();
  auto model = JitModel::compile(*module, options, raise);
  if (failed(model))
    return false;
  double compileMs = std::chrono::duration<double, std::milli>(
                         std::chrono::steady_clock::now() - start)
                         .count();
  const JitModel::Timings &t = (*model)->compileTimings();
  llvm::outs() << "compiled in " << llvm::format("%.1f", compileMs)
               << " ms (MLIR passes " << llvm::format("%.1f", t.passes)
               << ", LLVM IR " << llvm::format("%.1f", t.llvmIR)
               << ", machine code " << llvm::format("%.1f", t.machineCode)
               << ")\n";
  loaded.jit = std::move(*model);
  if (tailor_model_from_abi(loaded.jit->abi(), &loaded.model) != TAILOR_OK) {
    llvm::errs() << "tailor-run: " << tailor_last_error() << "\n";
    return false;
  }
  return true;
}

int main(int argc, char **argv) {
  llvm::InitLLVM y(argc, argv);
  cl::HideUnrelatedOptions(category);
  registerPassManagerCLOptions();
  registerDefaultTimingManagerCLOptions();
  cl::ParseCommandLineOptions(
      argc, argv,
      "tailor-run: run a model compiled by tailor-compile (.so), or compile "
      "an .onnx/.mlir model for this CPU in memory and run it\n");
  // The OpenMP runtime reads this when the JIT loads it.
  if (numThreads)
    setenv("OMP_NUM_THREADS", std::to_string(numThreads).c_str(), 1);
  if (optLevel > 3) {
    llvm::errs() << "tailor-run: -O must be 0-3\n";
    return 2;
  }
  if (attentionBlock < 0) {
    llvm::errs() << "tailor-run: --attention-block must be >= 0\n";
    return 2;
  }
  LoadedModel loaded;
  if (!loadModel(loaded))
    return 1;
  if (numThreads)
    (void)tailor_model_set_num_threads(loaded.model, int32_t(numThreads));

  if (generate.getNumOccurrences())
    return runGenerate(loaded);

  if (!checkDir.empty()) {
    bool allOk = true;
    std::vector<std::string> sets = dataSets(checkDir);
    if (sets.empty()) {
      llvm::errs() << "tailor-run: no data set (output_0.pb) in '" << checkDir
                   << "' or its sub-folders\n";
      return 1;
    }
    for (const std::string &set : sets) {
      std::vector<HostTensor> inputs, expected, outputs;
      if (!readNumbered(set, "input_", inputs) ||
          !readNumbered(set, "output_", expected))
        return 1;
      llvm::outs() << llvm::sys::path::filename(set) << ":\n";
      if (!loaded.run(inputs, &outputs))
        return 1;
      if (outputs.size() != expected.size()) {
        llvm::outs() << "  FAIL: " << outputs.size() << " outputs, expected "
                     << expected.size() << "\n";
        allOk = false;
        continue;
      }
      for (size_t i = 0; i < outputs.size(); ++i)
        allOk &= compare(outputs[i], expected[i], outputs[i].name);
    }
    llvm::outs() << (allOk ? "PASS" : "FAIL") << "\n";
    return allOk ? 0 : 1;
  }

  std::vector<HostTensor> inputs, outputs;
  std::mt19937 rng(0);
  for (const std::string &path : inputFiles) {
    auto t = StringRef(path).ends_with(".npy") ? readNpyFile(path)
                                               : readTensorProtoFile(path);
    if (!t) {
      llvm::errs() << "tailor-run: " << llvm::toString(t.takeError()) << "\n";
      return 1;
    }
    inputs.push_back(std::move(*t));
  }
  if (inputs.empty())
    for (const tailor_tensor_info &spec : loaded.inputs())
      inputs.push_back(randomTensor(spec, rng));
  if (!loaded.run(inputs, &outputs))
    return 1;
  for (const HostTensor &t : outputs) {
    llvm::outs() << t.name << ": " << describe(t.dtype, t.shape) << " =";
    for (int64_t i = 0, n = std::min<int64_t>(t.numElements(), 8); i < n; ++i)
      llvm::outs() << " " << valueAt(t, i);
    llvm::outs() << (t.numElements() > 8 ? " ...\n" : "\n");
  }
  if (bench) {
    auto t0 = std::chrono::steady_clock::now();
    for (unsigned i = 0; i < bench; ++i)
      if (!loaded.run(inputs, nullptr))
        return 1;
    double ms = std::chrono::duration<double, std::milli>(
                    std::chrono::steady_clock::now() - t0)
                    .count();
    llvm::outs() << "latency: " << llvm::format("%.3f", ms / bench)
                 << " ms/run over " << bench << " runs\n";
  }
  return 0;
}
