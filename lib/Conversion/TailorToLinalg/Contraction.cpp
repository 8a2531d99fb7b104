//===- Contraction.cpp - MatMul, Gemm and linear to linalg ----------------===//
//
// A matrix product whose right operand has no batch dims becomes one
// `linalg.matmul` over the collapsed rows of the left operand (the shape of
// every `linear` layer); batched products become a `linalg.generic`
// contraction with numpy batch broadcasting.

#include "Utils.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/DialectResourceBlobManager.h"

using namespace mlir;
using namespace mlir::tailor;
using namespace mlir::tailor::lowering;

namespace {
Value zeroOf(OpBuilder &b, Location loc, Type t) {
  return scalarConstant(b, loc, t, 0.0);
}

/// A 1-D operand as a matrix: [K] -> [1, K] (left) or [K, 1] (right).
Value promote1D(OpBuilder &b, Location loc, Value v, bool left) {
  auto type = cast<RankedTensorType>(v.getType());
  int64_t k = type.getDimSize(0);
  SmallVector<int64_t> shape =
      left ? SmallVector<int64_t>{1, k} : SmallVector<int64_t>{k, 1};
  auto newType = RankedTensorType::get(shape, type.getElementType());
  SmallVector<OpFoldResult> outShape;
  OpFoldResult kk = getDims(b, loc, v)[0];
  outShape = left ? SmallVector<OpFoldResult>{b.getIndexAttr(1), kk}
                  : SmallVector<OpFoldResult>{kk, b.getIndexAttr(1)};
  return tensor::ExpandShapeOp::create(b, loc, newType, v,
                                       {ReassociationIndices{0, 1}}, outShape);
}

/// a [..., M, K] x b [K, N] -> [..., M, N] through one linalg.matmul.
Value matmulRows(OpBuilder &b, Location loc, Value a, Value w,
                 RankedTensorType resultType) {
  auto aType = cast<RankedTensorType>(a.getType());
  int64_t rank = aType.getRank();
  Type elem = resultType.getElementType();
  SmallVector<OpFoldResult> aDims = getDims(b, loc, a);
  Value rows = a;
  if (rank > 2) {
    ReassociationIndices lead;
    for (int64_t i = 0; i < rank - 1; ++i)
      lead.push_back(i);
    rows = tensor::CollapseShapeOp::create(
        b, loc, a, {lead, ReassociationIndices{rank - 1}});
  }
  auto rowsType = cast<RankedTensorType>(rows.getType());
  OpFoldResult n = getDims(b, loc, w)[1];
  SmallVector<OpFoldResult> outDims{getDims(b, loc, rows)[0], n};
  Value init = filledTensor(b, loc, outDims, zeroOf(b, loc, elem));
  auto mmType =
      RankedTensorType::get({rowsType.getDimSize(0),
                             cast<RankedTensorType>(w.getType()).getDimSize(1)},
                            elem);
  init = castTo(b, loc, init, mmType);
  Value mm = linalg::MatmulOp::create(b, loc, TypeRange{mmType},
                                      ValueRange{rows, w}, ValueRange{init})
                 .getResult(0);
  if (rank == 2) {
    mm = castTo(b, loc, mm, resultType);
    return mm;
  }
  SmallVector<OpFoldResult> shape(aDims.begin(), aDims.end() - 1);
  shape.push_back(n);
  ReassociationIndices lead;
  for (int64_t i = 0; i < rank - 1; ++i)
    lead.push_back(i);
  // The expanded type must agree with the static sizes the sizes imply.
  SmallVector<int64_t> staticShape;
  for (OpFoldResult d : shape) {
    std::optional<int64_t> c = getConstantIntValue(d);
    staticShape.push_back(c ? *c : ShapedType::kDynamic);
  }
  auto expType = RankedTensorType::get(staticShape, elem);
  Value out = tensor::ExpandShapeOp::create(
      b, loc, expType, mm, {lead, ReassociationIndices{rank - 1}}, shape);
  out = castTo(b, loc, out, resultType);
  return out;
}

/// a [batchA..., M, K] x b [batchB..., K, N] -> [batch..., M, N]: a generic
/// contraction. A static size 1 broadcasts; two dynamic batch sizes must be
/// equal (checked at run time).
Value matmulBatched(OpBuilder &b, Location loc, Value a, Value w,
                    RankedTensorType resultType) {
  auto aType = cast<RankedTensorType>(a.getType());
  auto wType = cast<RankedTensorType>(w.getType());
  int64_t rank = resultType.getRank(), nb = rank - 2;
  int64_t nd = rank + 1; // batch..., m, n, k
  Type elem = resultType.getElementType();
  MLIRContext *ctx = b.getContext();

  SmallVector<OpFoldResult> dims;
  for (int64_t i = 0; i < nb; ++i) {
    if (!resultType.isDynamicDim(i)) {
      dims.push_back(b.getIndexAttr(resultType.getDimSize(i)));
      continue;
    }
    Value chosen, other;
    for (auto [v, t] : {std::pair{a, aType}, std::pair{w, wType}}) {
      int64_t j = i - (nb - (t.getRank() - 2));
      if (j < 0 || t.getDimSize(j) == 1)
        continue;
      Value d = getDimValue(b, loc, v, j);
      if (!chosen)
        chosen = d;
      else
        other = d;
    }
    if (!chosen)
      chosen = arith::ConstantIndexOp::create(b, loc, 1);
    if (other) {
      Value same = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                         chosen, other);
      cf::AssertOp::create(b, loc, same,
                           "tailor: MatMul batch sizes differ (a dynamic "
                           "batch size of 1 is not broadcast)");
    }
    dims.push_back(chosen);
  }
  dims.push_back(getDims(b, loc, a)[aType.getRank() - 2]);
  dims.push_back(getDims(b, loc, w)[wType.getRank() - 1]);

  auto operandMap = [&](RankedTensorType t, int64_t row, int64_t col) {
    SmallVector<AffineExpr> exprs;
    int64_t tb = t.getRank() - 2, offset = nb - tb;
    for (int64_t j = 0; j < tb; ++j) {
      bool broadcast =
          t.getDimSize(j) == 1 && resultType.getDimSize(j + offset) != 1;
      exprs.push_back(broadcast ? getAffineConstantExpr(0, ctx)
                                : getAffineDimExpr(j + offset, ctx));
    }
    exprs.push_back(getAffineDimExpr(row, ctx));
    exprs.push_back(getAffineDimExpr(col, ctx));
    return AffineMap::get(nd, 0, exprs, ctx);
  };
  SmallVector<AffineExpr> outExprs;
  for (int64_t i = 0; i < rank; ++i)
    outExprs.push_back(getAffineDimExpr(i, ctx));
  SmallVector<AffineMap> maps{operandMap(aType, nb, nb + 2),
                              operandMap(wType, nb + 2, nb + 1),
                              AffineMap::get(nd, 0, outExprs, ctx)};
  SmallVector<utils::IteratorType> iters(nd, utils::IteratorType::parallel);
  iters.back() = utils::IteratorType::reduction;
  Value init = filledTensor(b, loc, dims, zeroOf(b, loc, elem));
  init = castTo(b, loc, init, resultType);
  bool isF = isFloat(elem);
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{resultType}, ValueRange{a, w}, ValueRange{init}, maps,
      iters, [&](OpBuilder &nb2, Location l, ValueRange args) {
        Value p =
            isF ? arith::MulFOp::create(nb2, l, args[0], args[1]).getResult()
                : arith::MulIOp::create(nb2, l, args[0], args[1]).getResult();
        Value s = isF ? arith::AddFOp::create(nb2, l, args[2], p).getResult()
                      : arith::AddIOp::create(nb2, l, args[2], p).getResult();
        linalg::YieldOp::create(nb2, l, s);
      });
  return generic.getResult(0);
}

/// numpy matmul of two tensors into `resultType`.
Value buildMatmul(OpBuilder &b, Location loc, Value a, Value w,
                  RankedTensorType resultType) {
  auto aType = cast<RankedTensorType>(a.getType());
  auto wType = cast<RankedTensorType>(w.getType());
  bool aVec = aType.getRank() == 1, wVec = wType.getRank() == 1;
  if (aVec)
    a = promote1D(b, loc, a, /*left=*/true);
  if (wVec)
    w = promote1D(b, loc, w, /*left=*/false);
  aType = cast<RankedTensorType>(a.getType());
  wType = cast<RankedTensorType>(w.getType());
  // The product before removing the promoted unit dims.
  SmallVector<int64_t> full(resultType.getShape());
  if (aVec)
    full.insert(full.end() - (wVec ? 0 : 1), 1);
  if (wVec)
    full.push_back(1);
  auto fullType = RankedTensorType::get(full, resultType.getElementType());
  Value product = wType.getRank() == 2 ? matmulRows(b, loc, a, w, fullType)
                                       : matmulBatched(b, loc, a, w, fullType);
  if (!aVec && !wVec)
    return product;
  // Drop the unit dims that 1-D operands introduced.
  int64_t rank = fullType.getRank();
  SmallVector<ReassociationIndices> reassoc;
  if (rank == 2) {
    reassoc = {}; // [1, 1] -> scalar
  } else {
    for (int64_t i = 0; i < rank - 2; ++i)
      reassoc.push_back({i});
    if (aVec && wVec)
      reassoc.back().append({rank - 2, rank - 1});
    else
      reassoc.push_back({rank - 2, rank - 1});
  }
  if (rank == 2 && !(aVec && wVec)) // [1, N] -> [N] or [M, 1] -> [M]
    reassoc = {ReassociationIndices{0, 1}};
  return tensor::CollapseShapeOp::create(b, loc, resultType, product, reassoc);
}

struct MatMulLowering : OpConversionPattern<OnnxMatMulOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OnnxMatMulOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    if (!isa<RankedTensorType>(adaptor.getA().getType()) ||
        !isa<RankedTensorType>(adaptor.getB().getType()))
      return rewriter.notifyMatchFailure(op, "unranked operand");
    rewriter.replaceOp(op, buildMatmul(rewriter, op.getLoc(), adaptor.getA(),
                                       adaptor.getB(), *type));
    return success();
  }
};

/// A 2-D transpose.
Value transpose2D(OpBuilder &b, Location loc, Value v) {
  SmallVector<OpFoldResult> dims = getDims(b, loc, v);
  std::swap(dims[0], dims[1]);
  Value init = emptyTensor(
      b, loc, dims, cast<RankedTensorType>(v.getType()).getElementType());
  return linalg::TransposeOp::create(b, loc, v, init, ArrayRef<int64_t>{1, 0})
      .getResult()[0];
}

struct GemmLowering : OpConversionPattern<OnnxGemmOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OnnxGemmOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    Location loc = op.getLoc();
    Value a = adaptor.getA(), w = adaptor.getB();
    if (op.getTransA())
      a = transpose2D(rewriter, loc, a);
    if (op.getTransB())
      w = transpose2D(rewriter, loc, w);
    Value y = matmulRows(rewriter, loc, a, w, *type);
    Type elem = type->getElementType();
    Type onnxElem = elementTypeOf(op.getY().getType());
    double alpha = op.getAlpha().convertToDouble();
    double beta = op.getBeta().convertToDouble();
    SmallVector<Value> inputs{y};
    if (adaptor.getC() && beta != 0.0)
      inputs.push_back(adaptor.getC());
    bool isF = isFloat(elem);
    y = buildElementwise(
        rewriter, loc, *type, inputs,
        [&](OpBuilder &b, Location l, ValueRange args) -> Value {
          auto mul = [&](Value x, double s) -> Value {
            if (s == 1.0)
              return x;
            Value c = scalarConstant(b, l, onnxElem, s);
            return isF ? arith::MulFOp::create(b, l, x, c).getResult()
                       : arith::MulIOp::create(b, l, x, c).getResult();
          };
          Value r = mul(args[0], alpha);
          if (args.size() > 1) {
            Value c = mul(args[1], beta);
            r = isF ? arith::AddFOp::create(b, l, r, c).getResult()
                    : arith::AddIOp::create(b, l, r, c).getResult();
          }
          return r;
        });
    rewriter.replaceOp(op, y);
    return success();
  }
};

struct LinearLowering : OpConversionPattern<LinearOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(LinearOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    Location loc = op.getLoc();
    Value y = buildMatmul(rewriter, loc, adaptor.getInput(),
                          adaptor.getWeight(), *type);
    if (adaptor.getBias())
      y = buildElementwise(
          rewriter, loc, *type, ValueRange{y, adaptor.getBias()},
          [](OpBuilder &b, Location l, ValueRange args) {
            return arith::AddFOp::create(b, l, args[0], args[1]).getResult();
          });
    rewriter.replaceOp(op, y);
    return success();
  }
};
} // namespace

void lowering::populateContractionPatterns(const TypeConverter &converter,
                                           RewritePatternSet &patterns) {
  patterns.add<MatMulLowering, GemmLowering, LinearLowering>(
      converter, patterns.getContext());
}
