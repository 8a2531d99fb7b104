//===- LoadWeights.cpp - Trained weights from a safetensors file ----------===//
//
// tailor-train --method full writes the trained weights under the names
// tailor-peft method=full gives them. To compile the trained model, the
// same naming runs here (tailor-peft makes every named weight an argument,
// with its name, and marks MatMul weights stored transposed), then each
// argument becomes a constant again: the file's tensor when it has one,
// the original initializer otherwise.

#include "tailor/Dialect/Tailor.h"
#include "tailor/Support/SafeTensors.h"
#include "tailor/Transforms/Entry.h"
#include "tailor/Transforms/Passes.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/ADT/BitVector.h"
#include "llvm/ADT/StringSet.h"

namespace mlir::tailor {
#define GEN_PASS_DEF_TAILORLOADWEIGHTS
#include "dialects/Tailor/Passes.h.inc"
} // namespace mlir::tailor

using namespace mlir;
using namespace mlir::tailor;

namespace {
struct LoadWeightsPass
    : mlir::tailor::impl::TailorLoadWeightsBase<LoadWeightsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    func::FuncOp fn = findEntry(module);
    if (!fn) {
      module.emitError("tailor-load-weights: no entry function");
      return signalPassFailure();
    }
    auto file = safetensors::File::read(path);
    if (!file) {
      fn.emitError("tailor-load-weights: ")
          << llvm::toString(file.takeError());
      return signalPassFailure();
    }
    unsigned before = fn.getNumArguments();
    // The graph tailor-train named the weights on: after the optimize
    // phase's clean-up (an Identity between a weight and its MatMul folds).
    OpPassManager pm(ModuleOp::getOperationName());
    pm.addNestedPass<func::FuncOp>(createTailorInferShapes());
    pm.addPass(createCanonicalizerPass());
    pm.addPass(createCSEPass());
    TailorPeftOptions full;
    full.method = "full";
    pm.addPass(createTailorPeft(full));
    if (failed(runPipeline(pm, module)))
      return signalPassFailure();
    fn->removeAttr("tailor.peft");

    MLIRContext *ctx = &getContext();
    llvm::StringSet<> used;
    OpBuilder b(fn.getBody());
    llvm::BitVector erase(fn.getNumArguments());
    for (unsigned i = before; i < fn.getNumArguments(); ++i) {
      BlockArgument arg = fn.getArgument(i);
      auto type = cast<RankedTensorType>(arg.getType());
      StringRef name =
          fn.getArgAttrOfType<StringAttr>(i, "onnx.name").getValue();
      bool transposed = bool(fn.getArgAttr(i, "tailor.transposed"));
      Attribute value = fn.getArgAttr(i, "tailor.init");
      if (const safetensors::TensorInfo *t = file->lookup(name)) {
        SmallVector<int64_t> want(type.getShape());
        if (transposed)
          std::reverse(want.begin(), want.end());
        if (ArrayRef<int64_t>(t->shape) != ArrayRef<int64_t>(want)) {
          auto diag = fn.emitError("tailor-load-weights: tensor '")
                      << name << "' has shape [";
          llvm::interleaveComma(t->shape, diag);
          diag << "], the model's weight [";
          llvm::interleaveComma(want, diag);
          diag << "]" << (transposed ? " (PyTorch's [out, in])" : "");
          return signalPassFailure();
        }
        auto values = safetensors::readFloats(*file, *t);
        if (!values || !type.getElementType().isF32()) {
          fn.emitError("tailor-load-weights: ")
              << (values ? "weight '" + name.str() + "' is not f32"
                         : llvm::toString(values.takeError()));
          return signalPassFailure();
        }
        std::vector<float> data = std::move(*values);
        if (transposed) {
          int64_t k = type.getDimSize(0), n = type.getDimSize(1);
          std::vector<float> t(data.size());
          for (int64_t r = 0; r < k; ++r)
            for (int64_t c = 0; c < n; ++c)
              t[r * n + c] = data[c * k + r];
          data = std::move(t);
        }
        value = DenseElementsAttr::get(type, ArrayRef<float>(data));
        used.insert(name);
        ++numLoaded;
      }
      auto c = OnnxConstantOp::create(b, arg.getLoc(), type,
                                      cast<ElementsAttr>(value), nullptr,
                                      nullptr, nullptr, nullptr, nullptr,
                                      nullptr);
      arg.replaceAllUsesWith(c.getResult());
      erase.set(i);
    }
    (void)ctx;
    if (failed(fn.eraseArguments(erase)))
      return signalPassFailure();
    for (const safetensors::TensorInfo &t : file->tensors())
      if (!used.contains(t.name)) {
        fn.emitError("tailor-load-weights: no weight of the model is named '")
            << t.name << "' (names as tailor-peft method=full gives them)";
        return signalPassFailure();
      }
  }
};
} // namespace
