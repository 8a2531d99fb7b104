//===- AOT.cpp - Ahead-of-time artifacts ----------------------------------===//

#include "tailor/Compiler/AOT.h"

#include "tailor-c/abi.h"
#include "tailor/Target/Weights.h"

#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/OpenMP/OpenMPToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FileUtilities.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/SubtargetFeature.h"

#include <cstdlib>

using namespace mlir;
using namespace mlir::tailor;
using llvm::createStringError;
using llvm::Error;
using llvm::Expected;

static void initializeNativeTarget() {
  static bool done = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    return true;
  }();
  (void)done;
}

Expected<std::string> mlir::tailor::resolveTargetCPU(StringRef cpu) {
  if (cpu.empty() || cpu == "host")
    return llvm::sys::getHostCPUName().str();
  initializeNativeTarget();
  llvm::Triple triple(llvm::sys::getDefaultTargetTriple());
  std::string error;
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return createStringError(error);
  std::unique_ptr<llvm::MCSubtargetInfo> info(
      target->createMCSubtargetInfo(triple, "", ""));
  if (!info || !info->isCPUStringValid(cpu))
    return createStringError(
        "unknown target CPU '%s' (LLVM's names for %s: skylake, znver3, "
        "x86-64-v3, ...; 'host' is this machine)",
        cpu.str().c_str(), triple.getArchName().str().c_str());
  return cpu.str();
}

static Expected<std::unique_ptr<llvm::TargetMachine>>
createTargetMachine(const TargetOptions &options) {
  initializeNativeTarget();
  auto cpu = resolveTargetCPU(options.cpu);
  if (!cpu)
    return cpu.takeError();
  llvm::Triple triple(llvm::sys::getDefaultTargetTriple());
  std::string error;
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return createStringError(error);
  llvm::SubtargetFeatures features;
  if (options.cpu.empty() || options.cpu == "host")
    for (const auto &f : llvm::sys::getHostCPUFeatures())
      features.AddFeature(f.first(), f.second);
  std::unique_ptr<llvm::TargetMachine> machine(target->createTargetMachine(
      triple, *cpu, features.getString(), llvm::TargetOptions(),
      llvm::Reloc::PIC_, std::nullopt,
      options.optLevel >= 3 ? llvm::CodeGenOptLevel::Aggressive
                            : llvm::CodeGenOptLevel::Default));
  if (!machine)
    return createStringError("cannot create an LLVM target machine for " +
                             triple.str());
  return machine;
}

/// The x86 extensions the code for `cpu` may use, among those the runtime
/// can check before running it (tailor-c/abi.h `cpu_features`).
static std::string requiredCPUFeatures(StringRef cpu) {
  static const char *const checked[] = {
      "avx",      "avx2",     "fma",        "avx512f",   "avx512bw",
      "avx512dq", "avx512vl", "avx512vnni", "avx512bf16", "avx512fp16",
      "amx-tile"};
  llvm::StringMap<bool> enabled = cpuFeatures(cpu);
  std::string list;
  for (const char *f : checked)
    if (enabled.lookup(f))
      list += (list.empty() ? "" : ",") + std::string(f);
  return list;
}

/// `void tailor_invoke(void **args)`: loads every argument of `fn` through
/// its pointer in args, calls `fn`, stores the result through the pointer
/// after them (MLIR's packed calling convention).
static llvm::Function *addPackedWrapper(llvm::Module &m, llvm::Function *fn) {
  llvm::LLVMContext &ctx = m.getContext();
  auto *ptr = llvm::PointerType::getUnqual(ctx);
  auto *type =
      llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {ptr}, false);
  auto *wrapper = llvm::Function::Create(
      type, llvm::GlobalValue::InternalLinkage, "tailor_invoke", m);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", wrapper));
  llvm::Value *args = wrapper->getArg(0);
  llvm::SmallVector<llvm::Value *> callArgs;
  for (llvm::Argument &a : fn->args()) {
    llvm::Value *slot = b.CreateConstGEP1_64(ptr, args, a.getArgNo());
    callArgs.push_back(b.CreateLoad(a.getType(), b.CreateLoad(ptr, slot)));
  }
  llvm::Value *result = b.CreateCall(fn, callArgs);
  if (!result->getType()->isVoidTy()) {
    llvm::Value *slot = b.CreateConstGEP1_64(ptr, args, fn->arg_size());
    b.CreateStore(result, b.CreateLoad(ptr, slot));
  }
  b.CreateRetVoid();
  return wrapper;
}

/// The descriptor (tailor-c/abi.h) and `tailor_model_abi()` returning it.
static void addDescriptor(llvm::Module &m, const ModelSignature &signature,
                          StringRef producer, StringRef cpuFeatures,
                          llvm::Function *invoke) {
  llvm::LLVMContext &ctx = m.getContext();
  auto *ptr = llvm::PointerType::getUnqual(ctx);
  auto *i32 = llvm::Type::getInt32Ty(ctx);
  auto *i64 = llvm::Type::getInt64Ty(ctx);
  auto privateConstant = [&](llvm::Constant *init, StringRef name) {
    auto *g = new llvm::GlobalVariable(m, init->getType(), /*isConstant=*/true,
                                       llvm::GlobalValue::PrivateLinkage, init,
                                       name);
    g->setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);
    return g;
  };
  auto string = [&](StringRef s) {
    return privateConstant(llvm::ConstantDataArray::getString(ctx, s),
                           ".tailor.str");
  };
  auto *tensorType = llvm::StructType::get(ctx, {ptr, i32, i32, ptr});
  std::vector<TensorSpec> inputs = signature.compiledInputs();
  auto tensors = [&](const std::vector<TensorSpec> &specs) -> llvm::Constant * {
    if (specs.empty())
      return llvm::ConstantPointerNull::get(ptr);
    std::vector<llvm::Constant *> entries;
    for (const TensorSpec &s : specs) {
      llvm::Constant *shape = llvm::ConstantPointerNull::get(ptr);
      if (!s.shape.empty())
        shape = privateConstant(llvm::ConstantDataArray::get(ctx, s.shape),
                                ".tailor.shape");
      entries.push_back(llvm::ConstantStruct::get(
          tensorType, {string(s.name), llvm::ConstantInt::get(i32, s.dtype),
                       llvm::ConstantInt::get(i32, s.shape.size()), shape}));
    }
    return privateConstant(
        llvm::ConstantArray::get(
            llvm::ArrayType::get(tensorType, entries.size()), entries),
        ".tailor.tensors");
  };
  // set_num_threads: omp_set_num_threads from the OpenMP runtime.
  llvm::FunctionCallee setThreads = m.getOrInsertFunction(
      "omp_set_num_threads",
      llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {i32}, false));
  auto *modelType = llvm::StructType::get(
      ctx, {i32, i32, ptr, ptr, i32, i32, ptr, ptr, ptr, ptr, ptr, i32});
  llvm::Constant *fields[] = {
      llvm::ConstantInt::get(i32, TAILOR_ABI_MAGIC),
      llvm::ConstantInt::get(i32, TAILOR_ABI_VERSION),
      string(signature.entry),
      string(producer),
      llvm::ConstantInt::get(i32, inputs.size()),
      llvm::ConstantInt::get(i32, signature.outputs.size()),
      tensors(inputs),
      tensors(signature.outputs),
      invoke,
      llvm::cast<llvm::Constant>(setThreads.getCallee()),
      string(cpuFeatures),
      llvm::ConstantInt::get(i32, signature.kvCaches)};
  auto *descriptor = privateConstant(llvm::ConstantStruct::get(modelType, fields),
                                     ".tailor.model");
  (void)i64;
  auto *getter = llvm::Function::Create(
      llvm::FunctionType::get(ptr, {}, false),
      llvm::GlobalValue::ExternalLinkage, "tailor_model_abi", m);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", getter));
  b.CreateRet(descriptor);
}

/// Defines the externalized weights as read-only data in `m`.
static void defineWeights(llvm::Module &m,
                          const std::vector<ExternalWeight> &weights) {
  auto *i8 = llvm::Type::getInt8Ty(m.getContext());
  for (const ExternalWeight &w : weights) {
    llvm::GlobalVariable *decl = m.getNamedGlobal(w.symbol);
    if (!decl)
      continue; // unused after optimization
    auto *data = llvm::ConstantDataArray::getRaw(
        StringRef(w.data.data(), w.data.size()), w.data.size(), i8);
    auto *g = new llvm::GlobalVariable(m, data->getType(), /*isConstant=*/true,
                                       llvm::GlobalValue::InternalLinkage,
                                       data, "");
    g->setAlignment(llvm::Align(w.alignment));
    decl->replaceAllUsesWith(g);
    g->takeName(decl);
    decl->eraseFromParent();
  }
}

static Error emitObject(llvm::Module &m, llvm::TargetMachine &machine,
                        StringRef path) {
  std::error_code ec;
  llvm::ToolOutputFile out(path, ec, llvm::sys::fs::OF_None);
  if (ec)
    return createStringError(ec, "cannot write '%s'", path.str().c_str());
  llvm::legacy::PassManager pm;
  if (machine.addPassesToEmitFile(pm, out.os(), nullptr,
                                  llvm::CodeGenFileType::ObjectFile))
    return createStringError("LLVM cannot emit object files for this target");
  pm.run(m);
  out.os().flush();
  if (out.os().has_error())
    return createStringError(out.os().error(), "cannot write '%s'",
                             path.str().c_str());
  out.keep();
  return Error::success();
}

static std::string findLinker(const AOTOptions &options) {
  if (!options.linker.empty())
    return options.linker;
  if (const char *cc = std::getenv("TAILOR_CC"))
    return cc;
  return TAILOR_DEFAULT_CC;
}

static Expected<std::string> findRuntimeArchive(const AOTOptions &options) {
  std::vector<std::string> candidates;
  if (!options.runtimeArchive.empty())
    candidates.push_back(options.runtimeArchive);
  else if (const char *env = std::getenv("TAILOR_RUNTIME_EMBED"))
    candidates.push_back(env);
  else {
    // <prefix>/bin/tool -> <prefix>/lib/libtailor_runtime_embed.a
    std::string exe = llvm::sys::fs::getMainExecutable(
        nullptr, reinterpret_cast<void *>(&findRuntimeArchive));
    SmallString<256> dir(llvm::sys::path::parent_path(
        llvm::sys::path::parent_path(exe)));
    llvm::sys::path::append(dir, "lib", "libtailor_runtime_embed.a");
    candidates.push_back(dir.str().str());
    candidates.push_back(TAILOR_RUNTIME_EMBED_BUILD);
    candidates.push_back(TAILOR_RUNTIME_EMBED_INSTALL);
  }
  for (const std::string &c : candidates)
    if (llvm::sys::fs::exists(c))
      return c;
  return createStringError("cannot find the Tailor runtime archive "
                           "(libtailor_runtime_embed.a; looked at '%s'); set "
                           "TAILOR_RUNTIME_EMBED",
                           llvm::join(candidates, "', '").c_str());
}

/// Links `object` with the runtime into the shared object `out`.
static Error linkSharedObject(const AOTOptions &options, StringRef object,
                              StringRef out) {
  auto archive = findRuntimeArchive(options);
  if (!archive)
    return archive.takeError();
  std::string linker = findLinker(options);
  auto linkerPath = llvm::sys::findProgramByName(linker);
  if (!linkerPath)
    return createStringError("cannot find the linker driver '%s' (set "
                             "TAILOR_CC to a clang or gcc)",
                             linker.c_str());
  // Export the C API only; bind the model's own references locally.
  SmallString<128> script, log;
  if (std::error_code ec =
          llvm::sys::fs::createTemporaryFile("tailor-exports", "map", script))
    return createStringError(ec, "cannot create a temporary file");
  llvm::FileRemover removeScript(script);
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(script, ec);
    if (ec)
      return createStringError(ec, "cannot write '%s'", script.c_str());
    os << "{ global: tailor_*; local: *; };\n";
  }
  if (std::error_code ec =
          llvm::sys::fs::createTemporaryFile("tailor-link", "log", log))
    return createStringError(ec, "cannot create a temporary file");
  llvm::FileRemover removeLog(log);
  StringRef ompDir = llvm::sys::path::parent_path(TAILOR_OPENMP_RUNTIME);
  std::string versionScript = ("-Wl,--version-script=" + script).str();
  std::string rpath = ("-Wl,-rpath," + ompDir).str();
  std::vector<std::string> args = {
      *linkerPath, "-shared", "-o", out.str(), object.str(),
      "-Wl,--whole-archive", *archive, "-Wl,--no-whole-archive",
      TAILOR_OPENMP_RUNTIME, rpath, "-lstdc++", "-lm", "-ldl",
      "-Wl,-Bsymbolic", "-Wl,-z,noexecstack", versionScript};
  if (StringRef(linker).contains("clang"))
    args.push_back("-fuse-ld=lld");
  std::vector<StringRef> argRefs(args.begin(), args.end());
  std::optional<StringRef> redirects[] = {std::nullopt, StringRef(log),
                                          StringRef(log)};
  std::string error;
  int rc = llvm::sys::ExecuteAndWait(*linkerPath, argRefs, std::nullopt,
                                     redirects, 0, 0, &error);
  if (rc != 0) {
    std::string output;
    if (auto buffer = llvm::MemoryBuffer::getFile(log))
      output = (*buffer)->getBuffer().str();
    return createStringError("linking the shared object failed (%s): %s%s",
                             llvm::join(args, " ").c_str(), error.c_str(),
                             output.c_str());
  }
  return Error::success();
}

Error mlir::tailor::writeArtifact(ModuleOp module,
                                  const ModelSignature &signature,
                                  const AOTOptions &options, ArtifactKind kind,
                                  StringRef path) {
  auto machine = createTargetMachine(options.target);
  if (!machine)
    return machine.takeError();
  if (options.target.optLevel > 0)
    markGlueCode(module);
  // The weights skip LLVM's optimizer: defined as raw bytes afterwards.
  std::vector<ExternalWeight> weights = externalizeLargeGlobals(module);

  DialectRegistry registry;
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  registerOpenMPDialectTranslation(registry);
  module.getContext()->appendDialectRegistry(registry);
  llvm::LLVMContext context;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, context, signature.entry);
  if (!llvmModule)
    return createStringError("translation to LLVM IR failed");
  llvmModule->setDataLayout((*machine)->createDataLayout());
  llvmModule->setTargetTriple((*machine)->getTargetTriple());
  llvm::Function *entry = llvmModule->getFunction(signature.entry);
  if (!entry || entry->isDeclaration())
    return createStringError("the LLVM module has no function '%s'",
                             signature.entry.c_str());
  addDescriptor(*llvmModule, signature, options.producer,
                (*machine)->getTargetTriple().isX86()
                    ? requiredCPUFeatures(options.target.cpu)
                    : std::string(),
                addPackedWrapper(*llvmModule, entry));
  auto optimize = makeOptimizingTransformer(options.target.optLevel, 0,
                                            machine->get());
  if (Error err = optimize(llvmModule.get()))
    return err;
  defineWeights(*llvmModule, weights);

  // Every file goes to a temporary name first, renamed when complete.
  SmallString<256> model(path), temp;
  model += ".tmp%%%%%%";
  if (std::error_code ec = llvm::sys::fs::createUniqueFile(model, temp))
    return createStringError(ec, "cannot write next to '%s'",
                             path.str().c_str());
  llvm::FileRemover removeTemp(temp);
  if (kind == ArtifactKind::LLVMIR) {
    std::error_code ec;
    llvm::raw_fd_ostream os(temp, ec);
    if (ec)
      return createStringError(ec, "cannot write '%s'", temp.c_str());
    llvmModule->print(os, nullptr);
    os.flush();
    if (os.has_error())
      return createStringError(os.error(), "cannot write '%s'", temp.c_str());
  } else if (kind == ArtifactKind::Object) {
    if (Error err = emitObject(*llvmModule, **machine, temp))
      return err;
  } else {
    SmallString<256> object;
    if (std::error_code ec =
            llvm::sys::fs::createTemporaryFile("tailor-model", "o", object))
      return createStringError(ec, "cannot create a temporary file");
    llvm::FileRemover removeObject(object);
    if (Error err = emitObject(*llvmModule, **machine, object))
      return err;
    if (Error err = linkSharedObject(options, object, temp))
      return err;
  }
  if (std::error_code ec = llvm::sys::fs::rename(temp, path))
    return createStringError(ec, "cannot rename '%s' to '%s'", temp.c_str(),
                             path.str().c_str());
  return Error::success();
}

static StringRef dtypeName(int32_t dtype) {
  switch (dtype) {
  case 1: return "float32";
  case 2: return "uint8";
  case 3: return "int8";
  case 4: return "uint16";
  case 5: return "int16";
  case 6: return "int32";
  case 7: return "int64";
  case 9: return "bool";
  case 10: return "float16";
  case 11: return "float64";
  case 12: return "uint32";
  case 13: return "uint64";
  case 16: return "bfloat16";
  default: return "unknown";
  }
}

std::string mlir::tailor::generateHeader(const ModelSignature &signature,
                                         StringRef prefix, StringRef source) {
  std::string upper;
  for (char c : prefix)
    upper += llvm::isAlnum(c) ? llvm::toUpper(c) : '_';
  if (upper.empty() || llvm::isDigit(upper[0]))
    upper = "MODEL_" + upper;
  auto ident = [](StringRef name) {
    std::string s;
    for (char c : name)
      s += llvm::isAlnum(c) ? c : '_';
    return s;
  };
  std::string out;
  llvm::raw_string_ostream os(out);
  auto shapeOf = [](const TensorSpec &t) {
    std::string s = "[";
    for (size_t i = 0; i < t.shape.size(); ++i)
      s += (i ? ", " : "") +
           (t.shape[i] < 0 ? std::string("?") : std::to_string(t.shape[i]));
    return s + "]";
  };
  os << "/* " << upper << ": generated by tailor-compile from " << source
     << ". Do not edit.\n"
     << " *\n"
     << " * Load the model with tailor_model_load(\"<path>.so\", &model)\n"
     << " * (tailor-c/tailor.h) and pass inputs in the order below; '?' is\n"
     << " * a size chosen at run time. Entry: " << signature.entry << ".\n"
     << " */\n"
     << "#ifndef " << upper << "_H\n#define " << upper << "_H\n\n"
     << "#include <tailor-c/tailor.h>\n\n"
     << "#define " << upper << "_NUM_INPUTS " << signature.inputs.size()
     << "\n#define " << upper << "_NUM_OUTPUTS " << signature.outputs.size()
     << "\n";
  auto list = [&](const std::vector<TensorSpec> &specs, StringRef kind) {
    for (auto [i, t] : llvm::enumerate(specs)) {
      std::string base = upper + "_" + kind.str() + "_" + ident(t.name);
      os << "\n/* " << kind.lower() << " " << i << " '" << t.name << "': "
         << dtypeName(t.dtype) << shapeOf(t) << " */\n"
         << "#define " << base << " " << i << "\n"
         << "#define " << base << "_DTYPE " << t.dtype << "\n"
         << "#define " << base << "_RANK " << t.shape.size() << "\n";
      for (auto [d, size] : llvm::enumerate(t.shape))
        if (size >= 0)
          os << "#define " << base << "_DIM" << d << " " << size << "\n";
    }
  };
  list(signature.inputs, "INPUT");
  list(signature.outputs, "OUTPUT");
  os << "\n#endif /* " << upper << "_H */\n";
  return out;
}
