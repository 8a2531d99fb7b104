//===- LowerToLinalg.cpp - The --tailor-lower-to-linalg pass --------------===//

#include "tailor/Conversion/TailorToLinalg.h"

#include "Utils.h"

#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Func/Transforms/FuncConversions.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/Dialect/Quant/IR/QuantTypes.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "tailor/Transforms/Passes.h"

namespace mlir::tailor {
#define GEN_PASS_DEF_TAILORLOWERTOLINALG
#include "dialects/Tailor/Passes.h.inc"
} // namespace mlir::tailor

using namespace mlir;
using namespace mlir::tailor;

TailorTypeConverter::TailorTypeConverter() {
  addConversion([](Type type) { return type; });
  addConversion(
      [](IntegerType type) -> Type { return lowering::signlessType(type); });
  addConversion([](RankedTensorType type) -> Type {
    // Quantized values are their storage integers (the scales live in the
    // type; the ops that consume them read them from there).
    if (auto q = dyn_cast<quant::QuantizedType>(type.getElementType()))
      return type.clone(q.getStorageType());
    return type.clone(lowering::signlessType(type.getElementType()));
  });
  auto materialize = [](OpBuilder &b, Type type, ValueRange inputs,
                        Location loc) -> Value {
    return UnrealizedConversionCastOp::create(b, loc, type, inputs)
        .getResult(0);
  };
  addSourceMaterialization(materialize);
  addTargetMaterialization(materialize);
}

void mlir::tailor::populateTailorToLinalgPatterns(
    const TypeConverter &converter, RewritePatternSet &patterns,
    int64_t attentionBlock, bool int4Kernel) {
  lowering::populateElementwisePatterns(converter, patterns);
  lowering::populateContractionPatterns(converter, patterns, int4Kernel);
  lowering::populateReductionPatterns(converter, patterns);
  lowering::populateDataMovementPatterns(converter, patterns);
  lowering::populateNormalizationPatterns(converter, patterns);
  lowering::populateIndexingPatterns(converter, patterns);
  lowering::populateRuntimeAxesPatterns(converter, patterns);
  lowering::populateLLMPatterns(converter, patterns, attentionBlock);
  lowering::populateGatheringPatterns(converter, patterns);
  lowering::populateQuantizationPatterns(converter, patterns);
  lowering::populateScatterPatterns(converter, patterns);
}

namespace {
struct LowerToLinalgPass
    : mlir::tailor::impl::TailorLowerToLinalgBase<LowerToLinalgPass> {
  using TailorLowerToLinalgBase::TailorLowerToLinalgBase;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    TailorTypeConverter converter;
    RewritePatternSet patterns(ctx);
    if (attentionBlock < 0) {
      emitError(module.getLoc())
          << "tailor-lower-to-linalg: attention-block must be >= 0";
      return signalPassFailure();
    }
    if (int4Activations != "int8" && int4Activations != "f32") {
      emitError(module.getLoc())
          << "tailor-lower-to-linalg: int4-activations must be int8 or f32, "
             "not '"
          << int4Activations << "'";
      return signalPassFailure();
    }
    populateTailorToLinalgPatterns(converter, patterns, attentionBlock,
                                   int4Activations == "int8");
    populateFunctionOpInterfaceTypeConversionPattern<func::FuncOp>(patterns,
                                                                   converter);
    populateReturnOpTypeConversionPattern(patterns, converter);
    populateCallOpTypeConversionPattern(patterns, converter);

    ConversionTarget target(*ctx);
    target.addLegalDialect<arith::ArithDialect, linalg::LinalgDialect,
                           tensor::TensorDialect, math::MathDialect,
                           scf::SCFDialect, cf::ControlFlowDialect>();
    target.addIllegalDialect<TailorDialect>();
    // Kept apart from CSE until the kernels are outlined (tailor-recompute).
    target.addLegalOp<RecomputeBarrierOp>();
    target.addIllegalOp<quant::StorageCastOp>();
    target.addLegalOp<ModuleOp>();
    // Ops of other dialects (already-lowered code, a host compiler's own
    // ops) are left alone.
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    target.addDynamicallyLegalOp<func::FuncOp>([&](func::FuncOp op) {
      return converter.isSignatureLegal(op.getFunctionType()) &&
             converter.isLegal(&op.getBody());
    });
    target.addDynamicallyLegalOp<func::ReturnOp, func::CallOp>(
        [&](Operation *op) { return converter.isLegal(op); });

    int64_t before = 0;
    module.walk([&](Operation *op) {
      if (isa<TailorDialect>(op->getDialect()))
        ++before;
    });
    // Report every op that has no lowering, not only the first.
    bool missing = false;
    llvm::DenseSet<OperationName> reported;
    FrozenRewritePatternSet frozen(std::move(patterns));
    module.walk([&](Operation *op) {
      if (!isa<TailorDialect>(op->getDialect()) || isa<RecomputeBarrierOp>(op))
        return;
      bool hasPattern = false;
      for (const auto &p : frozen.getOpSpecificNativePatterns())
        if (p.first == op->getName())
          hasPattern = true;
      if (!hasPattern && reported.insert(op->getName()).second) {
        op->emitError() << "'" << op->getName()
                        << "' has no lowering to linalg yet";
        missing = true;
      }
    });
    if (missing)
      return signalPassFailure();
    if (failed(applyFullConversion(module, target, frozen)))
      return signalPassFailure();
    numLowered += before;
  }
};
} // namespace
