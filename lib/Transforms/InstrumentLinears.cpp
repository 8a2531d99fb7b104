//===- InstrumentLinears.cpp - Statistics of linear inputs as results ------===//
//
// Calibration: each linear's input x [..., K] is flattened to rows and its
// per-channel sum of squares (and, on request, x^T x) is returned from the
// entry function, computed with linalg on tensors (lowered with the rest).

#include "tailor/Dialect/Tailor.h"
#include "tailor/Transforms/Passes.h"

#include "tailor/Transforms/LinearNames.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace mlir::tailor {
#define GEN_PASS_DEF_TAILORINSTRUMENTLINEARS
#include "dialects/Tailor/Passes.h.inc"
} // namespace mlir::tailor

using namespace mlir;
using namespace mlir::tailor;

namespace {
/// A zero-filled f32 tensor of static `shape`.
Value zeros(OpBuilder &b, Location loc, ArrayRef<int64_t> shape) {
  Value empty = tensor::EmptyOp::create(b, loc, shape, b.getF32Type());
  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
  return linalg::FillOp::create(b, loc, zero, empty).getResult(0);
}

/// x [..., K] as rows [R, K].
Value rows(OpBuilder &b, Location loc, Value x) {
  auto type = cast<RankedTensorType>(x.getType());
  int64_t rank = type.getRank();
  if (rank == 2)
    return x;
  ReassociationIndices lead;
  for (int64_t i = 0; i + 1 < rank; ++i)
    lead.push_back(i);
  return tensor::CollapseShapeOp::create(b, loc, x,
                                         {lead, ReassociationIndices{rank - 1}});
}

struct InstrumentLinearsPass
    : mlir::tailor::impl::TailorInstrumentLinearsBase<InstrumentLinearsPass> {
  using TailorInstrumentLinearsBase::TailorInstrumentLinearsBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    func::FuncOp entry;
    for (auto f : module.getOps<func::FuncOp>())
      if (f.isPublic() && !f.isExternal())
        entry = entry ? func::FuncOp() : f;
    if (!entry) {
      emitError(module.getLoc())
          << "tailor-instrument-linears: needs exactly one public function";
      return signalPassFailure();
    }
    auto ret = cast<func::ReturnOp>(entry.getBody().back().getTerminator());
    MLIRContext *ctx = module.getContext();
    SmallVector<Value> results;
    SmallVector<std::string> names;
    for (auto &[linear, key] : calibratedLinears(entry)) {
      auto xType = dyn_cast<RankedTensorType>(linear.getInput().getType());
      if (!xType || xType.getRank() < 2 || !xType.getElementType().isF32())
        continue;
      int64_t k = cast<RankedTensorType>(linear.getWeight().getType())
                      .getDimSize(0);
      OpBuilder b(linear);
      Location loc = linear.getLoc();
      Value x = rows(b, loc, linear.getInput());
      auto r = getAffineDimExpr(0, ctx), i = getAffineDimExpr(1, ctx),
           j = getAffineDimExpr(2, ctx);
      // Per input channel over the rows: sum x^2 (Wanda) and max |x|
      // (SmoothQuant's activation ranges).
      auto perChannel = [&](function_ref<Value(OpBuilder &, Location, Value,
                                               Value)>
                                combine) {
        return linalg::GenericOp::create(
                   b, loc,
                   TypeRange{RankedTensorType::get({k}, b.getF32Type())},
                   ValueRange{x}, ValueRange{zeros(b, loc, {k})},
                   ArrayRef<AffineMap>{AffineMap::get(2, 0, {r, i}, ctx),
                                       AffineMap::get(2, 0, {i}, ctx)},
                   ArrayRef<utils::IteratorType>{
                       utils::IteratorType::reduction,
                       utils::IteratorType::parallel},
                   [&](OpBuilder &nb, Location l, ValueRange a) {
                     linalg::YieldOp::create(nb, l, combine(nb, l, a[0], a[1]));
                   })
            .getResult(0);
      };
      results.push_back(perChannel([](OpBuilder &nb, Location l, Value v,
                                      Value acc) -> Value {
        return arith::AddFOp::create(nb, l, acc,
                                     arith::MulFOp::create(nb, l, v, v));
      }));
      names.push_back("calib:" + key + ":sumsq");
      results.push_back(perChannel([](OpBuilder &nb, Location l, Value v,
                                      Value acc) -> Value {
        return arith::MaximumFOp::create(nb, l, acc,
                                         math::AbsFOp::create(nb, l, v));
      }));
      names.push_back("calib:" + key + ":absmax");
      if (hessian) {
        // sum_r x[r, i] x[r, j]
        Value h =
            linalg::GenericOp::create(
                b, loc,
                TypeRange{RankedTensorType::get({k, k}, b.getF32Type())},
                ValueRange{x, x}, ValueRange{zeros(b, loc, {k, k})},
                ArrayRef<AffineMap>{AffineMap::get(3, 0, {r, i}, ctx),
                                    AffineMap::get(3, 0, {r, j}, ctx),
                                    AffineMap::get(3, 0, {i, j}, ctx)},
                ArrayRef<utils::IteratorType>{utils::IteratorType::reduction,
                                              utils::IteratorType::parallel,
                                              utils::IteratorType::parallel},
                [](OpBuilder &nb, Location l, ValueRange a) {
                  Value p = arith::MulFOp::create(nb, l, a[0], a[1]);
                  linalg::YieldOp::create(
                      nb, l, arith::AddFOp::create(nb, l, a[2], p).getResult());
                })
                .getResult(0);
        results.push_back(h);
        names.push_back("calib:" + key + ":hessian");
      }
    }
    // The statistics are computed where each linear runs; the return sees
    // them all.
    for (auto [value, name] : llvm::zip(results, names)) {
      unsigned index = entry.getNumResults();
      if (failed(entry.insertResult(
              index, value.getType(),
              DictionaryAttr::get(ctx, {NamedAttribute(
                                           StringAttr::get(ctx, "onnx.name"),
                                           StringAttr::get(ctx, name))}))))
        return signalPassFailure();
    }
    SmallVector<Value> operands(ret.getOperands());
    operands.append(results.begin(), results.end());
    ret->setOperands(operands);
  }
};
} // namespace
