//===- tailor-calibrate.cpp - Activation statistics for compression -------===//
//
// Runs a causal LM over calibration token windows and records, for every
// linear with a constant weight, statistics of its input activations (the
// per-channel sum of squares and absolute maximum; with --hessian, x^T x): what
// Wanda pruning (and, next, GPTQ / AWQ / SmoothQuant) needs. Written as
// safetensors:
//   <key>.sumsq    F32 [K]      sum over calibration rows of x[r, k]^2
//   <key>.absmax   F32 [K]      max over calibration rows of |x[r, k]|
//   <key>.hessian  F32 [K, K]   sum over rows of x[r, i] x[r, j]
// with metadata "rows" (the number of rows summed). <key> is the linear's
// module name (tailor-prune and tailor-quantize find their linears by it).

#include "tailor-c/abi.h"
#include "tailor-c/tailor.h"
#include "tailor/Execution/JitModel.h"
#include "tailor/Execution/TokenWindows.h"
#include "tailor/Import/OnnxImporter.h"
#include "tailor/InitTailor.h"
#include "tailor/Support/SafeTensors.h"
#include "tailor/Target/Target.h"
#include "tailor/Transforms/Passes.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <vector>

using namespace mlir;
using namespace mlir::tailor;
namespace cl = llvm::cl;

static cl::OptionCategory category("tailor-calibrate options");
static cl::opt<std::string> modelPath(cl::Positional, cl::Required,
                                      cl::desc("<model.onnx>"),
                                      cl::cat(category));
static cl::opt<std::string> tokensPath(
    "tokens", cl::Required,
    cl::desc("Calibration token windows: int64 .npy [N, W+1] (tokens 0..W-1 "
             "of each row are run), as test/models/pretrain.py writes, or "
             "tokens [T] (windows of 128)"),
    cl::value_desc("file.npy"), cl::cat(category));
static cl::opt<std::string> outputPath("o", cl::Required,
                                       cl::desc("Output .safetensors file"),
                                       cl::value_desc("file"),
                                       cl::cat(category));
static cl::opt<bool> hessian("hessian", cl::init(false),
                             cl::desc("Also record x^T x per linear [K, K]"),
                             cl::cat(category));
static cl::opt<unsigned> batch("batch", cl::init(16),
                               cl::desc("Windows per run"), cl::cat(category));
static cl::opt<unsigned> maxWindows(
    "max-windows", cl::init(0),
    cl::desc("Use at most this many windows (0: all)"), cl::cat(category));
static cl::opt<int> numThreads("num-threads", cl::init(0),
                               cl::desc("Threads (0: OMP_NUM_THREADS or all)"),
                               cl::cat(category));

static int fail(const llvm::Twine &message) {
  llvm::errs() << "tailor-calibrate: " << message << "\n";
  return 1;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      argc, argv,
      "tailor-calibrate: activation statistics of every linear's input over "
      "calibration tokens.\n\nExample:\n"
      "  tailor-calibrate model.onnx --tokens calib.npy -o calib.safetensors\n"
      "  tailor-compile model.onnx --prune=unstructured --prune-method=wanda "
      "\\\n      --calibration=calib.safetensors -o pruned.so\n");
  if (batch == 0)
    return fail("--batch must be at least 1");
  auto windows = readTokenWindows(tokensPath, /*window=*/128, maxWindows);
  if (!windows)
    return fail(llvm::toString(windows.takeError()));
  int64_t rows = windows->rows, w = windows->width;

  DialectRegistry registry;
  registerToolEnvironment(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  context.printOpOnDiagnostic(false);
  OwningOpRef<ModuleOp> module = importOnnxFile(modelPath, &context);
  if (!module)
    return 1;
  // Raise (the linears statistics are keyed by), then instrument.
  CompileOptions compile;
  if (failed(lowerModule(*module, compile, CompilePhase::Import,
                         CompilePhase::Raise)))
    return 1;
  PassManager pm(&context);
  TailorInstrumentLinearsOptions instrument;
  instrument.hessian = hessian;
  pm.addPass(createTailorInstrumentLinears(instrument));
  if (failed(pm.run(*module)))
    return 1;
  llvm::errs() << "tailor-calibrate: compiling the instrumented model\n";
  auto jit = JitModel::compile(*module, compile.targetOptions, /*raise=*/false);
  if (failed(jit))
    return 1;
  tailor_model *model = nullptr;
  if (tailor_model_from_abi((*jit)->abi(), &model) != TAILOR_OK)
    return fail(tailor_last_error());
  std::unique_ptr<tailor_model, void (*)(tailor_model *)> owner(
      model, tailor_model_unload);
  if (numThreads > 0)
    tailor_model_set_num_threads(model, numThreads);

  // The statistics outputs, by name, summed in double.
  struct Stat {
    std::string name;
    std::vector<int64_t> shape;
    std::vector<double> sum; // or the maximum (absmax)
    bool max = false;
  };
  std::map<int32_t, Stat> stats;
  for (int32_t i = 0; i < tailor_model_num_outputs(model); ++i) {
    tailor_tensor_info info;
    if (tailor_model_output_info(model, i, &info) != TAILOR_OK)
      return fail(tailor_last_error());
    StringRef name(info.name);
    if (!name.consume_front("calib:"))
      continue;
    auto [key, kind] = name.rsplit(':');
    Stat s;
    s.name = (key + "." + kind).str();
    s.max = kind == "absmax";
    s.shape.assign(info.shape, info.shape + info.rank);
    int64_t n = 1;
    for (int64_t d : s.shape)
      n *= d;
    s.sum.assign(n, 0.0);
    stats[i] = std::move(s);
  }
  if (stats.empty())
    return fail(modelPath + ": no linear with a constant weight to calibrate");

  std::vector<int64_t> in;
  for (int64_t r0 = 0; r0 < rows; r0 += batch) {
    int64_t n = std::min<int64_t>(batch, rows - r0);
    in.resize(n * w);
    for (int64_t r = 0; r < n; ++r)
      std::memcpy(&in[r * w], windows->row(r0 + r), w * sizeof(int64_t));
    auto result = runTokenWindows(model, in.data(), n, w);
    if (!result)
      return fail(llvm::toString(result.takeError()));
    for (auto &[index, s] : stats) {
      tailor_tensor out;
      if (tailor_result_output(result->get(), index, &out) != TAILOR_OK)
        return fail(tailor_last_error());
      const float *data = static_cast<const float *>(out.data);
      if (s.max)
        for (size_t e = 0; e < s.sum.size(); ++e)
          s.sum[e] = std::max(s.sum[e], double(data[e]));
      else
        for (size_t e = 0; e < s.sum.size(); ++e)
          s.sum[e] += data[e];
    }
    llvm::errs() << "\r  " << std::min(rows, r0 + n) << "/" << rows
                 << " windows";
  }
  llvm::errs() << "\n";

  std::vector<std::vector<float>> values;
  std::vector<safetensors::TensorData> tensors;
  values.reserve(stats.size());
  for (auto &[index, s] : stats) {
    values.emplace_back(s.sum.begin(), s.sum.end());
    const std::vector<float> &v = values.back();
    tensors.push_back({s.name, safetensors::DType::F32,
                       llvm::SmallVector<int64_t>(s.shape.begin(), s.shape.end()),
                       llvm::ArrayRef<char>(reinterpret_cast<const char *>(v.data()),
                                            v.size() * sizeof(float))});
  }
  std::map<std::string, std::string> meta{
      {"rows", std::to_string(rows * w)},
      {"windows", std::to_string(rows)},
      {"model", modelPath}};
  if (llvm::Error e = safetensors::write(outputPath, tensors, meta))
    return fail(llvm::toString(std::move(e)));
  llvm::errs() << "tailor-calibrate: wrote " << outputPath << " ("
               << tensors.size() << " statistics over " << rows * w
               << " rows)\n";
  return 0;
}
