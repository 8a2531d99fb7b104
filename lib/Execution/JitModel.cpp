//===- JitModel.cpp - Compile a tailor module in memory and run it --------===//
//
// The function is called through ExecutionEngine's packed wrapper: every
// memref argument is expanded into its descriptor words (allocated pointer,
// aligned pointer, offset, sizes, strides), and the results come back as
// consecutive descriptors of the same 8-byte words.

#include "tailor/Execution/JitModel.h"

#include "tailor/Dialect/OnnxBridge.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/Pass/PassManager.h"
#include "tailor/Target/Weights.h"
#include "llvm/ExecutionEngine/Orc/Mangling.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/OpenMP/OpenMPToLLVMIRTranslation.h"
#include "llvm/Support/DynamicLibrary.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <set>

using namespace mlir;
using namespace mlir::tailor;
using llvm::createStringError;

JitModel::~JitModel() = default;

FailureOr<std::unique_ptr<JitModel>>
JitModel::compile(ModuleOp module, const TargetOptions &options,
                  bool raise) {
  std::unique_ptr<JitModel> model(new JitModel());
  using Clock = std::chrono::steady_clock;
  auto t0 = Clock::now();
  ModelSignature signature;
  CompileOptions compileOptions;
  compileOptions.targetOptions = options;
  compileOptions.raise = raise;
  if (failed(lowerModule(module, compileOptions, CompilePhase::Import,
                         CompilePhase::LLVM, &signature)))
    return failure();
  model->entry = signature.entry;
  model->inputSpecs = std::move(signature.inputs);
  model->outputSpecs = std::move(signature.outputs);
  auto t1 = Clock::now();
  if (options.optLevel > 0)
    markGlueCode(module);
  // Weights stay out of the generated code: copied into buffers the model
  // owns and bound to the external globals by address.
  for (const ExternalWeight &w : externalizeLargeGlobals(module)) {
    size_t size = llvm::alignTo(w.data.size(), w.alignment);
    std::unique_ptr<char, void (*)(void *)> buffer(
        static_cast<char *>(std::aligned_alloc(w.alignment, size)), std::free);
    if (!buffer)
      return module.emitError("out of memory for the weights (")
             << w.data.size() << " bytes)";
    std::memcpy(buffer.get(), w.data.data(), w.data.size());
    model->weightSymbols.push_back(w.symbol);
    model->weights.push_back(std::move(buffer));
  }

  static bool initialized = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    return true;
  }();
  (void)initialized;
  DialectRegistry registry;
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  registerOpenMPDialectTranslation(registry);
  module.getContext()->appendDialectRegistry(registry);

  ExecutionEngineOptions engineOptions;
  // Strided copies (memref.copy of non-contiguous views) call memrefCopy
  // from MLIR's C runner utilities.
  // Threads: the OpenMP runtime the parallel loops call.
  static const StringRef runtimeLibs[] = {TAILOR_MLIR_C_RUNNER_UTILS,
                                          TAILOR_OPENMP_RUNTIME};
  engineOptions.sharedLibPaths = runtimeLibs;
  auto transformer = makeOptimizingTransformer(options.optLevel, 0, nullptr);
  engineOptions.transformer = transformer;
  engineOptions.jitCodeGenOptLevel = options.optLevel >= 3
                                         ? llvm::CodeGenOptLevel::Aggressive
                                         : llvm::CodeGenOptLevel::Default;
  // Function names for the perf map written below (profiling).
  std::vector<std::string> functionNames;
  if (std::getenv("TAILOR_JIT_PERF"))
    module.walk([&](LLVM::LLVMFuncOp f) {
      if (!f.isExternal())
        functionNames.push_back(f.getName().str());
    });
  auto engine = ExecutionEngine::create(module, engineOptions);
  if (!engine)
    return module.emitError("JIT compilation failed: ")
           << llvm::toString(engine.takeError());
  auto t2 = Clock::now();
  model->engine = std::move(*engine);
  model->engine->registerSymbols([&](llvm::orc::MangleAndInterner interner) {
    llvm::orc::SymbolMap map;
    for (auto [name, buffer] : llvm::zip(model->weightSymbols, model->weights))
      map[interner(name)] = {llvm::orc::ExecutorAddr::fromPtr(buffer.get()),
                             llvm::JITSymbolFlags::Exported};
    return map;
  });
  // Generate the machine code now (LLJIT would at the first call).
  auto fnOrErr = model->engine->lookupPacked(model->entry);
  if (!fnOrErr)
    return module.emitError("JIT compilation failed: ")
           << llvm::toString(fnOrErr.takeError());
  // The descriptor the C runtime runs the model through.
  auto describe = [](const std::vector<TensorSpec> &specs,
                     std::vector<tailor_abi_tensor> &out) {
    for (const TensorSpec &s : specs)
      out.push_back({s.name.c_str(), s.dtype, int32_t(s.shape.size()),
                     s.shape.data()});
  };
  describe(model->inputSpecs, model->abiInputs);
  describe(model->outputSpecs, model->abiOutputs);
  tailor_abi_model &abi = model->abiModel;
  abi.magic = TAILOR_ABI_MAGIC;
  abi.version = TAILOR_ABI_VERSION;
  abi.name = model->entry.c_str();
  abi.producer = "tailor JIT (cpu, host)";
  abi.num_inputs = int32_t(model->abiInputs.size());
  abi.num_outputs = int32_t(model->abiOutputs.size());
  abi.inputs = model->abiInputs.data();
  abi.outputs = model->abiOutputs.data();
  abi.invoke = *fnOrErr;
  abi.set_num_threads = reinterpret_cast<void (*)(int32_t)>(
      llvm::sys::DynamicLibrary::SearchForAddressOfSymbol(
          "omp_set_num_threads"));
  auto t3 = Clock::now();
  // TAILOR_JIT_PERF=1: /tmp/perf-PID.map names the JIT's functions (the
  // kernels included) for `perf report`.
  if (!functionNames.empty()) {
    std::vector<std::pair<uint64_t, std::string>> symbols;
    for (const std::string &name : functionNames)
      if (auto addr = model->engine->lookup(name))
        symbols.emplace_back(reinterpret_cast<uint64_t>(*addr), name);
      else
        llvm::consumeError(addr.takeError());
    llvm::sort(symbols);
    std::error_code ec;
    llvm::raw_fd_ostream map(
        "/tmp/perf-" + std::to_string(llvm::sys::Process::getProcessId()) +
            ".map",
        ec, llvm::sys::fs::OF_Append);
    for (size_t i = 0; !ec && i < symbols.size(); ++i) {
      uint64_t size = i + 1 < symbols.size()
                          ? symbols[i + 1].first - symbols[i].first
                          : 65536;
      map << llvm::format_hex_no_prefix(symbols[i].first, 1) << " "
          << llvm::format_hex_no_prefix(size, 1) << " " << symbols[i].second
          << "\n";
    }
  }
  auto ms = [](auto a, auto b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
  };
  model->timings = {ms(t0, t1), ms(t1, t2), ms(t2, t3)};
  return model;
}

llvm::Error JitModel::run(const std::vector<HostTensor> &inputs,
                          std::vector<HostTensor> &outputs) {
  if (inputs.size() != inputSpecs.size())
    return createStringError("the model takes %zu inputs, %zu were given",
                             inputSpecs.size(), inputs.size());
  for (auto [spec, t] : llvm::zip(inputSpecs, inputs)) {
    bool ok = spec.dtype == t.dtype && spec.shape.size() == t.shape.size();
    for (size_t i = 0; ok && i < t.shape.size(); ++i)
      ok =
          t.shape[i] >= 0 && (spec.shape[i] < 0 || spec.shape[i] == t.shape[i]);
    if (ok)
      ok = (int64_t)t.data.size() == t.numElements() * dtypeSize(t.dtype);
    if (!ok)
      return createStringError("input '%s' is %s; the model expects %s",
                               spec.name.c_str(),
                               describe(t.dtype, t.shape).c_str(),
                               describe(spec.dtype, spec.shape).c_str());
  }

  // Descriptor words of every input, then room for the results.
  std::vector<std::vector<int64_t>> descriptors;
  std::vector<void *> args;
  for (const HostTensor &t : inputs) {
    size_t rank = t.shape.size();
    std::vector<int64_t> words(3 + 2 * rank);
    auto ptr = reinterpret_cast<int64_t>(t.data.data());
    words[0] = words[1] = ptr;
    words[2] = 0;
    int64_t stride = 1;
    for (size_t i = rank; i-- > 0;) {
      words[3 + i] = t.shape[i];
      words[3 + rank + i] = stride;
      stride *= t.shape[i];
    }
    descriptors.push_back(std::move(words));
  }
  for (auto &words : descriptors)
    for (int64_t &w : words)
      args.push_back(&w);
  size_t resultWords = 0;
  for (const TensorSpec &spec : outputSpecs)
    resultWords += 3 + 2 * spec.shape.size();
  std::vector<int64_t> results(std::max<size_t>(resultWords, 1));
  if (resultWords)
    args.push_back(results.data());

  if (llvm::Error err = engine->invokePacked(entry, args))
    return err;

  // Copy the results out (they may be strided views), then free the buffers
  // the model allocated; a result may alias an input or another result.
  outputs.clear();
  std::set<void *> freed;
  std::set<const void *> inputBuffers;
  for (const HostTensor &t : inputs)
    inputBuffers.insert(t.data.data());
  size_t pos = 0;
  for (const TensorSpec &spec : outputSpecs) {
    size_t rank = spec.shape.size();
    auto *allocated = reinterpret_cast<void *>(results[pos]);
    auto *aligned = reinterpret_cast<char *>(results[pos + 1]);
    int64_t offset = results[pos + 2];
    HostTensor out;
    out.name = spec.name;
    out.dtype = spec.dtype;
    std::vector<int64_t> strides(rank);
    for (size_t i = 0; i < rank; ++i) {
      out.shape.push_back(results[pos + 3 + i]);
      strides[i] = results[pos + 3 + rank + i];
    }
    pos += 3 + 2 * rank;
    int64_t size = dtypeSize(spec.dtype), n = out.numElements();
    out.data.resize(n * size);
    const char *base = aligned + offset * size;
    // Copy whole rows: the innermost dim when it is contiguous (always, for
    // the identity layouts the CPU pipeline returns), else one element at
    // a time.
    int64_t inner = rank && strides[rank - 1] == 1 ? out.shape[rank - 1] : 1;
    size_t outer = inner == 1 ? rank : rank - 1;
    std::vector<int64_t> index(outer, 0);
    for (int64_t e = 0; n > 0 && e < n; e += inner) {
      int64_t at = 0;
      for (size_t i = 0; i < outer; ++i)
        at += index[i] * strides[i];
      memcpy(out.data.data() + e * size, base + at * size, inner * size);
      for (size_t i = outer; i-- > 0;) {
        if (++index[i] < out.shape[i])
          break;
        index[i] = 0;
      }
    }
    outputs.push_back(std::move(out));
    if (allocated && !inputBuffers.count(allocated) &&
        freed.insert(allocated).second)
      free(allocated);
  }
  return llvm::Error::success();
}
