//===- JitModel.cpp - Compile a tailor module in memory and run it --------===//
//
// The function is called through ExecutionEngine's packed wrapper (every
// memref argument expanded into its descriptor words, the results as
// consecutive descriptors), which is the `invoke` of the descriptor that
// abi() hands to the C runtime: runs go through tailor_model_from_abi.

#include "tailor/Execution/JitModel.h"
#include "tailor/Execution/BufferStats.h"

#include "tailor/Dialect/OnnxBridge.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/Pass/PassManager.h"
#include "tailor/Target/Weights.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/ExecutionEngine/Orc/Mangling.h"
#include "llvm/Target/TargetMachine.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/OpenMP/OpenMPToLLVMIRTranslation.h"
#include "llvm/Support/DynamicLibrary.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>

using namespace mlir;
using namespace mlir::tailor;
using llvm::createStringError;

// The micro-kernels of lib/Runtime/UKernels.c (in tailor_runtime) that the
// generated code calls by name; their C interfaces take memref descriptors.
extern "C" void _mlir_ciface_tailor_q4_matmul();
extern "C" void _mlir_ciface_tailor_q4z_matmul();
extern "C" void _mlir_ciface_tailor_q8_matmul();

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
  model->compiledInputSpecs = signature.compiledInputs();
  model->kvCaches = signature.kvCaches;
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
  // LLVM's optimization pipeline with the host's target machine: without
  // it the cost models see a target with no vector registers, and the loop
  // and SLP vectorizers leave every elementwise map and reduction scalar.
  std::unique_ptr<llvm::TargetMachine> hostMachine;
  if (auto builder = llvm::orc::JITTargetMachineBuilder::detectHost()) {
    if (auto machine = builder->createTargetMachine())
      hostMachine = std::move(*machine);
    else
      llvm::consumeError(machine.takeError());
  } else {
    llvm::consumeError(builder.takeError());
  }
  auto transformer =
      makeOptimizingTransformer(options.optLevel, 0, hostMachine.get());
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
  // TAILOR_JIT_OBJECT=FILE: the machine code as object files FILE.0,
  // FILE.1, ... in the order the models are compiled (objdump beside
  // TAILOR_JIT_PERF's symbols).
  const char *objectFile = std::getenv("TAILOR_JIT_OBJECT");
  engineOptions.enableObjectDump = objectFile != nullptr;
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
    for (auto [name, fn] :
         {std::pair{"_mlir_ciface_tailor_q4_matmul",
                    &_mlir_ciface_tailor_q4_matmul},
          {"_mlir_ciface_tailor_q4z_matmul", &_mlir_ciface_tailor_q4z_matmul},
          {"_mlir_ciface_tailor_q8_matmul", &_mlir_ciface_tailor_q8_matmul}})
      map[interner(name)] = {llvm::orc::ExecutorAddr::fromPtr(fn),
                             llvm::JITSymbolFlags::Exported};
    // TargetOptions::countBuffers.
    map[interner("_mlir_memref_to_llvm_alloc")] = {
        llvm::orc::ExecutorAddr::fromPtr(&tailor_counting_alloc),
        llvm::JITSymbolFlags::Exported};
    map[interner("_mlir_memref_to_llvm_aligned_alloc")] = {
        llvm::orc::ExecutorAddr::fromPtr(&tailor_counting_aligned_alloc),
        llvm::JITSymbolFlags::Exported};
    map[interner("_mlir_memref_to_llvm_free")] = {
        llvm::orc::ExecutorAddr::fromPtr(&tailor_counting_free),
        llvm::JITSymbolFlags::Exported};
    return map;
  });
  // Generate the machine code now (LLJIT would at the first call).
  auto fnOrErr = model->engine->lookupPacked(model->entry);
  if (!fnOrErr)
    return module.emitError("JIT compilation failed: ")
           << llvm::toString(fnOrErr.takeError());
  if (objectFile) {
    static std::atomic<int> objects{0};
    model->engine->dumpToObjectFile(std::string(objectFile) + "." +
                                    std::to_string(objects++));
  }
  // The descriptor the C runtime runs the model through.
  auto describe = [](const std::vector<TensorSpec> &specs,
                     std::vector<tailor_abi_tensor> &out) {
    for (const TensorSpec &s : specs)
      out.push_back({s.name.c_str(), s.dtype, int32_t(s.shape.size()),
                     s.shape.data()});
  };
  describe(model->compiledInputSpecs, model->abiInputs);
  describe(model->outputSpecs, model->abiOutputs);
  tailor_abi_model &abi = model->abiModel;
  abi.magic = TAILOR_ABI_MAGIC;
  abi.version = TAILOR_ABI_VERSION;
  abi.name = model->entry.c_str();
  abi.producer = "tailor JIT (cpu, host)";
  abi.cpu_features = ""; // compiled for this CPU
  abi.num_inputs = int32_t(model->abiInputs.size());
  abi.num_outputs = int32_t(model->abiOutputs.size());
  abi.inputs = model->abiInputs.data();
  abi.outputs = model->abiOutputs.data();
  abi.invoke = *fnOrErr;
  abi.kv_caches = model->kvCaches;
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
