//===- SpecializeInputs.cpp - Static shapes for the entry's inputs ---------===//
//
// An exported language model takes [batch, sequence] token ids with both
// sizes dynamic; every elementwise op between two tensors whose sizes the
// compiler cannot prove equal then carries a run-time broadcast guard, every
// kernel loops over dynamic bounds, and the buffers those guards select
// between defeat the deallocation analysis. When the shapes are known (a
// training step over fixed-size batches, a prefill of a fixed length), this
// pass makes the named inputs static and refines the body until it stops
// changing.

#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"
#include "tailor/Transforms/Entry.h"
#include "tailor/Transforms/Passes.h"

#include "llvm/ADT/StringMap.h"

namespace mlir::tailor {
#define GEN_PASS_DEF_TAILORSPECIALIZEINPUTS
#include "dialects/Tailor/Passes.h.inc"
} // namespace mlir::tailor

using namespace mlir;

namespace {
/// "name:8x128" -> {"name", {8, 128}}; sizes >= 0.
std::optional<std::pair<std::string, SmallVector<int64_t>>>
parseEntry(StringRef entry) {
  auto [name, dims] = entry.rsplit(':');
  if (name.empty() || dims.empty() || name == entry)
    return std::nullopt;
  SmallVector<StringRef> parts;
  dims.split(parts, 'x');
  SmallVector<int64_t> sizes;
  for (StringRef p : parts) {
    int64_t v;
    if (p.getAsInteger(10, v) || v < 0)
      return std::nullopt;
    sizes.push_back(v);
  }
  return std::make_pair(name.str(), sizes);
}

/// A fingerprint of every value type in the function: refinement is done
/// when a round leaves it unchanged.
std::string typesOf(func::FuncOp fn) {
  std::string s;
  llvm::raw_string_ostream os(s);
  fn.walk([&](Operation *op) {
    for (Type t : op->getResultTypes())
      os << t << ';';
  });
  return s;
}

struct SpecializeInputsPass
    : mlir::tailor::impl::TailorSpecializeInputsBase<SpecializeInputsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    func::FuncOp fn = mlir::tailor::findEntry(module);
    if (shapes.empty())
      return;
    if (!fn) {
      module.emitError("tailor-specialize-inputs: no entry function");
      return signalPassFailure();
    }
    llvm::StringMap<unsigned> byName;
    for (unsigned i = 0; i < fn.getNumArguments(); ++i)
      if (auto n = fn.getArgAttrOfType<StringAttr>(i, "onnx.name"))
        byName[n.getValue()] = i;
    SmallVector<Type> argTypes(fn.getArgumentTypes());
    for (const std::string &entry : shapes) {
      auto parsed = parseEntry(entry);
      if (!parsed) {
        fn.emitError() << "tailor-specialize-inputs: '" << entry
                       << "' is not name:AxB... (sizes >= 0)";
        return signalPassFailure();
      }
      auto &[name, sizes] = *parsed;
      auto it = byName.find(name);
      if (it == byName.end()) {
        fn.emitError() << "tailor-specialize-inputs: the entry has no input '"
                       << name << "'";
        return signalPassFailure();
      }
      auto type = dyn_cast<RankedTensorType>(argTypes[it->second]);
      if (!type || type.getRank() != static_cast<int64_t>(sizes.size())) {
        fn.emitError() << "tailor-specialize-inputs: input '" << name
                       << "' has type " << argTypes[it->second] << ", not rank "
                       << sizes.size();
        return signalPassFailure();
      }
      for (int64_t d = 0; d < type.getRank(); ++d)
        if (!type.isDynamicDim(d) && type.getDimSize(d) != sizes[d]) {
          fn.emitError() << "tailor-specialize-inputs: input '" << name
                         << "' has size " << type.getDimSize(d) << " in dim "
                         << d << ", not " << sizes[d];
          return signalPassFailure();
        }
      argTypes[it->second] = type.clone(sizes);
      ++numSpecialized;
    }
    Block &body = fn.getBody().front();
    for (auto [arg, type] : llvm::zip(body.getArguments(), argTypes))
      arg.setType(type);
    fn.setType(FunctionType::get(&getContext(), argTypes, fn.getResultTypes()));

    // Refine: inference makes Shape operands static, canonicalization folds
    // the shape arithmetic to constants, inference then reads them.
    OpPassManager pm(ModuleOp::getOperationName());
    pm.addNestedPass<func::FuncOp>(mlir::tailor::createTailorInferShapes());
    pm.addPass(createCanonicalizerPass());
    std::string before = typesOf(fn);
    for (int round = 0; round < 16; ++round) {
      if (failed(runPipeline(pm, module)))
        return signalPassFailure();
      std::string after = typesOf(fn);
      if (after == before)
        break;
      before = std::move(after);
    }
  }
};
} // namespace
