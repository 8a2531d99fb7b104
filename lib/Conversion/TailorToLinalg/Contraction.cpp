//===- Contraction.cpp - MatMul, Gemm and linear to linalg ----------------===//
//
// A matrix product whose right operand has no batch dims becomes one
// `linalg.matmul` over the collapsed rows of the left operand (the shape of
// every `linear` layer); batched products become a `linalg.generic`
// contraction with numpy batch broadcasting.

#include "Utils.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/Dialect/Quant/IR/QuantTypes.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include <cstring>

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

/// sum_k x[..., k] as [..., 1].
static Value rowSums(OpBuilder &b, Location loc, Value x) {
  auto type = cast<RankedTensorType>(x.getType());
  int64_t rank = type.getRank();
  SmallVector<OpFoldResult> dims = getDims(b, loc, x);
  dims.pop_back();
  Value init = filledTensor(b, loc, dims, zeroOf(b, loc, type.getElementType()));
  MLIRContext *ctx = b.getContext();
  SmallVector<AffineExpr> outExprs;
  for (int64_t i = 0; i + 1 < rank; ++i)
    outExprs.push_back(getAffineDimExpr(i, ctx));
  SmallVector<utils::IteratorType> iterators(rank - 1,
                                             utils::IteratorType::parallel);
  iterators.push_back(utils::IteratorType::reduction);
  Value sums =
      linalg::GenericOp::create(
          b, loc, TypeRange{init.getType()}, ValueRange{x}, ValueRange{init},
          ArrayRef<AffineMap>{AffineMap::getMultiDimIdentityMap(rank, ctx),
                              AffineMap::get(rank, 0, outExprs, ctx)},
          iterators,
          [](OpBuilder &nb, Location l, ValueRange a) {
            linalg::YieldOp::create(
                nb, l, arith::AddFOp::create(nb, l, a[1], a[0]).getResult());
          })
          .getResult(0);
  SmallVector<int64_t> shape(type.getShape());
  shape.back() = 1;
  SmallVector<ReassociationIndices> reassoc;
  for (int64_t i = 0; i + 2 < rank; ++i)
    reassoc.push_back({i});
  reassoc.push_back({rank - 2, rank - 1});
  dims.push_back(b.getIndexAttr(1));
  return tensor::ExpandShapeOp::create(b, loc, type.clone(shape), sums,
                                       reassoc, dims);
}

/// Activations x [R, K] quantized symmetrically per row and group of G
/// columns (`groups` = K / G) to integers of `intType` in [-127, 127]:
///   a[r, g] = max_j |x[r, g, j]|, xs = a / 127,
///   xq[r, g*G + j] = clamp(round_half_even(x[r, g, j] * 127 / a), +-127)
/// (0 where a = 0). Returns xq [R, K] and xs [R, groups].
static std::pair<Value, Value> quantizeActivations(OpBuilder &rewriter,
                                                   Location loc, Value x,
                                                   OpFoldResult rows,
                                                   int64_t groups, int64_t g,
                                                   Type intType) {
  MLIRContext *ctx = rewriter.getContext();
  auto xType = cast<RankedTensorType>(x.getType());
  Type f32 = xType.getElementType();
  using IT = utils::IteratorType;
  AffineExpr d0 = getAffineDimExpr(0, ctx), d1 = getAffineDimExpr(1, ctx);
  int64_t rowsStatic = xType.getDimSize(0);
  Value x3 = tensor::ExpandShapeOp::create(
      rewriter, loc, RankedTensorType::get({rowsStatic, groups, g}, f32), x,
      {ReassociationIndices{0}, ReassociationIndices{1, 2}},
      ArrayRef<OpFoldResult>{rows, rewriter.getIndexAttr(groups),
                             rewriter.getIndexAttr(g)});
  SmallVector<OpFoldResult> rowGroups{rows, rewriter.getIndexAttr(groups)};
  Value amax =
      linalg::GenericOp::create(
          rewriter, loc,
          TypeRange{RankedTensorType::get({rowsStatic, groups}, f32)},
          ValueRange{x3},
          ValueRange{filledTensor(rewriter, loc, rowGroups,
                                  zeroOf(rewriter, loc, f32))},
          ArrayRef<AffineMap>{AffineMap::getMultiDimIdentityMap(3, ctx),
                              AffineMap::get(3, 0, {d0, d1}, ctx)},
          ArrayRef<IT>{IT::parallel, IT::parallel, IT::reduction},
          [](OpBuilder &b, Location l, ValueRange a) {
            Value m = arith::MaxNumFOp::create(
                b, l, a[1], math::AbsFOp::create(b, l, a[0]));
            linalg::YieldOp::create(b, l, m);
          })
          .getResult(0);
  auto rowGroupType = RankedTensorType::get({rowsStatic, groups}, f32);
  auto scalesOp = linalg::GenericOp::create(
      rewriter, loc, TypeRange{rowGroupType, rowGroupType}, ValueRange{amax},
      ValueRange{emptyTensor(rewriter, loc, rowGroups, f32),
                 emptyTensor(rewriter, loc, rowGroups, f32)},
      SmallVector<AffineMap>(3, AffineMap::getMultiDimIdentityMap(2, ctx)),
      ArrayRef<IT>{IT::parallel, IT::parallel},
      [](OpBuilder &b, Location l, ValueRange a) {
        Type t = a[0].getType();
        Value c127 = arith::ConstantOp::create(b, l, b.getFloatAttr(t, 127));
        Value zero = arith::ConstantOp::create(b, l, b.getFloatAttr(t, 0));
        Value scale = arith::DivFOp::create(b, l, a[0], c127);
        Value positive =
            arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGT, a[0], zero);
        Value inv = arith::SelectOp::create(
            b, l, positive, arith::DivFOp::create(b, l, c127, a[0]), zero);
        linalg::YieldOp::create(b, l, ValueRange{scale, inv});
      });
  Value xs = scalesOp.getResult(0), inv = scalesOp.getResult(1);
  SmallVector<OpFoldResult> xDims3{rows, rewriter.getIndexAttr(groups),
                                   rewriter.getIndexAttr(g)};
  Value xq3 =
      linalg::GenericOp::create(
          rewriter, loc,
          TypeRange{RankedTensorType::get({rowsStatic, groups, g}, intType)},
          ValueRange{x3, inv},
          ValueRange{emptyTensor(rewriter, loc, xDims3, intType)},
          ArrayRef<AffineMap>{AffineMap::getMultiDimIdentityMap(3, ctx),
                              AffineMap::get(3, 0, {d0, d1}, ctx),
                              AffineMap::getMultiDimIdentityMap(3, ctx)},
          ArrayRef<IT>{IT::parallel, IT::parallel, IT::parallel},
          [](OpBuilder &b, Location l, ValueRange a) {
            Type t = a[0].getType();
            Value v = math::RoundEvenOp::create(
                b, l, arith::MulFOp::create(b, l, a[0], a[1]));
            v = arith::MinNumFOp::create(
                b, l, v,
                arith::ConstantOp::create(b, l, b.getFloatAttr(t, 127)));
            v = arith::MaxNumFOp::create(
                b, l, v,
                arith::ConstantOp::create(b, l, b.getFloatAttr(t, -127)));
            linalg::YieldOp::create(
                b, l,
                arith::FPToSIOp::create(b, l, a[2].getType(), v).getResult());
          })
          .getResult(0);
  Value xq = tensor::CollapseShapeOp::create(
      rewriter, loc, xq3,
      {ReassociationIndices{0}, ReassociationIndices{1, 2}});
  return {xq, xs};
}

/// The integers of an i8 constant (dense or a resource blob); empty when
/// they cannot be read.
static SmallVector<int8_t> int8Values(arith::ConstantOp cst) {
  SmallVector<int8_t> values;
  if (auto dense = dyn_cast<DenseIntElementsAttr>(cst.getValue()))
    values.assign(dense.getValues<int8_t>().begin(),
                  dense.getValues<int8_t>().end());
  else if (auto res = dyn_cast<DenseI8ResourceElementsAttr>(cst.getValue()))
    if (std::optional<ArrayRef<int8_t>> data = res.tryGetAsArrayRef())
      values.assign(data->begin(), data->end());
  return values;
}

/// `fn` on the rows of x [..., K]: the leading dims collapsed to x [R, K]
/// (a 1-D x is one row); fn gives [R, n], expanded back to [..., n] (null
/// when fn fails).
static Value applyToRows(OpBuilder &rewriter, Location loc, Value x, int64_t n,
                         function_ref<Value(Value, OpFoldResult, int64_t)> fn) {
  auto xType = cast<RankedTensorType>(x.getType());
  int64_t rank = xType.getRank();
  SmallVector<OpFoldResult> xDims = getDims(rewriter, loc, x);
  ReassociationIndices lead;
  for (int64_t i = 0; i + 1 < rank; ++i)
    lead.push_back(i);
  if (rank > 2)
    x = tensor::CollapseShapeOp::create(rewriter, loc, x,
                                        {lead, ReassociationIndices{rank - 1}});
  if (rank == 1)
    x = tensor::ExpandShapeOp::create(
        rewriter, loc,
        RankedTensorType::get({1, xType.getDimSize(0)}, xType.getElementType()),
        x, {ReassociationIndices{0, 1}},
        ArrayRef<OpFoldResult>{rewriter.getIndexAttr(1), xDims[0]});
  OpFoldResult rows = getDims(rewriter, loc, x)[0];
  int64_t rowsStatic = cast<RankedTensorType>(x.getType()).getDimSize(0);
  Value y = fn(x, rows, rowsStatic);
  if (!y)
    return {};
  Type f32 = getElementTypeOrSelf(y.getType());
  if (rank > 2) {
    SmallVector<OpFoldResult> shape(xDims.begin(), xDims.end() - 1);
    shape.push_back(rewriter.getIndexAttr(n));
    SmallVector<int64_t> staticShape(xType.getShape());
    staticShape.back() = n;
    y = tensor::ExpandShapeOp::create(
        rewriter, loc, RankedTensorType::get(staticShape, f32), y,
        {lead, ReassociationIndices{rank - 1}}, shape);
  }
  if (rank == 1)
    y = tensor::CollapseShapeOp::create(rewriter, loc, y,
                                        {ReassociationIndices{0, 1}});
  return y;
}

struct LinearLowering : OpConversionPattern<LinearOp> {
  LinearLowering(const TypeConverter &converter, MLIRContext *ctx,
                 bool int4Kernel)
      : OpConversionPattern(converter, ctx), int4Kernel(int4Kernel) {}
  /// int4 weights of a constant go to the int8-activation micro-kernel.
  bool int4Kernel;
  LogicalResult
  matchAndRewrite(LinearOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    Location loc = op.getLoc();
    Type wElem = getElementTypeOrSelf(op.getWeight().getType());
    if (auto q = dyn_cast<quant::QuantizedType>(wElem))
      return lowerQuantized(op, adaptor, q, *type, rewriter);
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

  /// A weight with a scale (and zero point) per group of G input rows:
  ///   P[r, g, n] = sum_j x[r, g*G + j] * q[g*G + j, n]   (a contraction
  ///                with the group as a batch dim: the integers are read,
  ///                converted in the kernel)
  ///   y[r, n] = sum_g s[g, n] * (P[r, g, n] - z[g, n] * X[r, g]) (+ b[n])
  /// with X[r, g] the group sums of x (only with zero points).
  LogicalResult lowerGrouped(LinearOp op, OpAdaptor adaptor,
                             quant::UniformQuantizedSubChannelType q,
                             RankedTensorType type,
                             ConversionPatternRewriter &rewriter) const {
    auto wType = cast<RankedTensorType>(adaptor.getWeight().getType());
    int64_t k = wType.getDimSize(0), n = wType.getDimSize(1);
    int64_t g = q.getBlockSizes()[0];
    if (!q.getStorageType().isInteger(8) || !q.isSigned() || g <= 0 ||
        k % g || q.getBlockSizes()[1] != 1)
      return op.emitOpError("has no lowering yet for the quantized weight ")
             << q << " (lowered: int8 storage, groups of rows dividing K)";
    return lowerRows(op, adaptor, type, n, rewriter,
                     [&](Value x, OpFoldResult rows, int64_t rowsStatic) {
                       Value y;
                       if (int4Kernel)
                         y = int4KernelProduct(rewriter, op.getLoc(), x, rows,
                                               adaptor.getWeight(), q);
                       if (!y)
                         y = groupedProduct(rewriter, op.getLoc(), x, rows,
                                            rowsStatic, adaptor.getWeight(), q);
                       return y;
                     });
  }

  /// The linear as a product of rows (see applyToRows), cast to the result
  /// type, plus the bias.
  LogicalResult
  lowerRows(LinearOp op, OpAdaptor adaptor, RankedTensorType type, int64_t n,
            ConversionPatternRewriter &rewriter,
            function_ref<Value(Value, OpFoldResult, int64_t)> product) const {
    Location loc = op.getLoc();
    Value y = applyToRows(rewriter, loc, adaptor.getInput(), n, product);
    if (!y)
      return failure();
    y = castTo(rewriter, loc, y, type);
    if (adaptor.getBias())
      y = buildElementwise(
          rewriter, loc, type, ValueRange{y, adaptor.getBias()},
          [](OpBuilder &b, Location l, ValueRange args) {
            return arith::AddFOp::create(b, l, args[0], args[1]).getResult();
          });
    rewriter.replaceOp(op, y);
    return success();
  }

  /// The int4 micro-kernel product for x [R, K] (null when the weight does
  /// not qualify: not a constant, values or zero points outside [-8, 7], K,
  /// N or the group not multiples of 8):
  ///   1. the activations quantized per row and group of G to int8:
  ///        a[r, g] = max_j |x[r, g, j]|, xs = a / 127,
  ///        xq[r, g, j] = round(x[r, g, j] * 127 / a)   (0 where a = 0)
  ///   2. one linalg.generic {library_call = "tailor_q4_matmul"} (q4z with
  ///      zero points) over the weight packed here, tiles of 8 columns with
  ///      two rows per byte (u = q + 8, see lib/Runtime/UKernels.c):
  ///        y[r, t, c] += xs[r, g] * ws[t, g, c] * xq[r, k] * (u[k, n] - z)
  ///      with k = kb*8 + h*4 + i, g = kb / (G/8), n = t*8 + c. Its body is
  ///      that formula (what a loop lowering computes); the CPU pipeline
  ///      calls the micro-kernel, which sums the products in integers.
  Value int4KernelProduct(ConversionPatternRewriter &rewriter, Location loc,
                          Value x, OpFoldResult rows, Value weight,
                          quant::UniformQuantizedSubChannelType q) const {
    auto wType = cast<RankedTensorType>(weight.getType());
    auto xType = cast<RankedTensorType>(x.getType());
    int64_t k = wType.getDimSize(0), n = wType.getDimSize(1);
    int64_t g = q.getBlockSizes()[0];
    auto cst = weight.getDefiningOp<arith::ConstantOp>();
    if (!cst || !xType.getElementType().isF32() || !wType.hasStaticShape() ||
        q.getStorageTypeMin() < -8 || q.getStorageTypeMax() > 7 || k % 8 ||
        n % 8 || g % 8 || k % g)
      return {};
    SmallVector<int8_t> values = int8Values(cst);
    SmallVector<int64_t> zeros;
    for (APInt z : q.getZeroPoints().getValues<APInt>())
      zeros.push_back(z.getSExtValue());
    SmallVector<float> scales;
    for (APFloat f : q.getScales().getValues<APFloat>())
      scales.push_back(float(f.convertToDouble()));
    int64_t groups = k / g, tiles = n / 8, blocks = k / 8;
    auto inRange = [](int64_t v) { return v >= -8 && v <= 7; };
    if (int64_t(values.size()) != k * n ||
        int64_t(scales.size()) != groups * n ||
        int64_t(zeros.size()) != groups * n || !llvm::all_of(values, inRange) ||
        !llvm::all_of(zeros, inRange))
      return {};
    bool zeroPoints = llvm::any_of(zeros, [](int64_t z) { return z; });
    // The packed operands, tile-major (a thread's columns are contiguous).
    auto blob = [&](ArrayRef<int64_t> shape, Type elt, auto fill) -> Value {
      int64_t count = 1;
      for (int64_t d : shape)
        count *= d;
      size_t bytes = size_t(count) * (elt.getIntOrFloatBitWidth() / 8);
      AsmResourceBlob data = HeapAsmResourceBlob::allocate(bytes, 64);
      fill(data.getMutableData());
      return arith::ConstantOp::create(
          rewriter, loc,
          DenseResourceElementsAttr::get(RankedTensorType::get(shape, elt),
                                         "tailor_int4", std::move(data)));
    };
    Type i8 = rewriter.getI8Type(), f32 = rewriter.getF32Type();
    Value wp = blob({tiles, blocks, 8, 4}, i8, [&](MutableArrayRef<char> out) {
      for (int64_t t = 0; t < tiles; ++t)
        for (int64_t kb = 0; kb < blocks; ++kb)
          for (int64_t c = 0; c < 8; ++c)
            for (int64_t i = 0; i < 4; ++i) {
              int64_t col = t * 8 + c, row = kb * 8 + i;
              unsigned lo = values[row * n + col] + 8,
                       hi = values[(row + 4) * n + col] + 8;
              out[((t * blocks + kb) * 8 + c) * 4 + i] = char(lo | hi << 4);
            }
    });
    auto perTile = [&](auto value) {
      return [&, value](MutableArrayRef<char> out) {
        for (int64_t t = 0; t < tiles; ++t)
          for (int64_t gi = 0; gi < groups; ++gi)
            for (int64_t c = 0; c < 8; ++c)
              value(out, (t * groups + gi) * 8 + c, gi * n + t * 8 + c);
      };
    };
    Value ws = blob({tiles, groups, 8}, f32,
                    perTile([&](MutableArrayRef<char> out, int64_t at,
                                int64_t from) {
                      std::memcpy(out.data() + at * 4, &scales[from], 4);
                    }));
    Value wz;
    if (zeroPoints)
      wz = blob({tiles, groups, 8}, i8,
                perTile([&](MutableArrayRef<char> out, int64_t at,
                            int64_t from) { out[at] = char(zeros[from] + 8); }));

    // 1. Activations to int8 per row and group.
    auto [xq, xs] = quantizeActivations(rewriter, loc, x, rows, groups, g,
                                        rewriter.getI8Type());
    MLIRContext *ctx = rewriter.getContext();
    using IT = utils::IteratorType;
    int64_t rowsStatic = xType.getDimSize(0);
    Value xq4 = tensor::ExpandShapeOp::create(
        rewriter, loc, RankedTensorType::get({rowsStatic, blocks, 2, 4}, i8),
        xq, {ReassociationIndices{0}, ReassociationIndices{1, 2, 3}},
        ArrayRef<OpFoldResult>{rows, rewriter.getIndexAttr(blocks),
                               rewriter.getIndexAttr(2),
                               rewriter.getIndexAttr(4)});

    // 2. The micro-kernel product: loops (r, t, c, kb, h, i).
    AffineExpr r = getAffineDimExpr(0, ctx), t = getAffineDimExpr(1, ctx),
               c = getAffineDimExpr(2, ctx), kb = getAffineDimExpr(3, ctx),
               h = getAffineDimExpr(4, ctx), i = getAffineDimExpr(5, ctx);
    AffineExpr group = kb.floorDiv(g / 8);
    SmallVector<Value> ins{xq4, xs, wp, ws};
    SmallVector<AffineMap> maps{AffineMap::get(6, 0, {r, kb, h, i}, ctx),
                                AffineMap::get(6, 0, {r, group}, ctx),
                                AffineMap::get(6, 0, {t, kb, c, i}, ctx),
                                AffineMap::get(6, 0, {t, group, c}, ctx)};
    if (wz) {
      ins.push_back(wz);
      maps.push_back(AffineMap::get(6, 0, {t, group, c}, ctx));
    }
    maps.push_back(AffineMap::get(6, 0, {r, t, c}, ctx));
    auto yType = RankedTensorType::get({rowsStatic, tiles, 8}, f32);
    Value yInit = filledTensor(
        rewriter, loc,
        {rows, rewriter.getIndexAttr(tiles), rewriter.getIndexAttr(8)},
        zeroOf(rewriter, loc, f32));
    auto product = linalg::GenericOp::create(
        rewriter, loc, TypeRange{yType}, ins, ValueRange{yInit}, maps,
        ArrayRef<IT>{IT::parallel, IT::parallel, IT::parallel, IT::reduction,
                     IT::reduction, IT::reduction},
        [&](OpBuilder &b, Location l, ValueRange a) {
          // u = h ? byte >> 4 : byte & 15; d = u - z
          Value byte = a[2];
          Type bt = byte.getType(), it = b.getI32Type();
          Value high = arith::CmpIOp::create(
              b, l, arith::CmpIPredicate::ne,
              linalg::IndexOp::create(b, l, 4),
              arith::ConstantIndexOp::create(b, l, 0));
          Value u = arith::SelectOp::create(
              b, l, high,
              arith::ShRUIOp::create(
                  b, l, byte,
                  arith::ConstantOp::create(b, l, b.getIntegerAttr(bt, 4))),
              arith::AndIOp::create(
                  b, l, byte,
                  arith::ConstantOp::create(b, l, b.getIntegerAttr(bt, 15))));
          Value z = wz ? arith::ExtUIOp::create(b, l, it, a[4]).getResult()
                       : arith::ConstantOp::create(b, l, b.getI32IntegerAttr(8))
                             .getResult();
          Value d = arith::SubIOp::create(
              b, l, arith::ExtUIOp::create(b, l, it, u), z);
          Type ft = a.back().getType();
          Value p = arith::MulFOp::create(
              b, l, arith::SIToFPOp::create(b, l, ft, a[0]),
              arith::SIToFPOp::create(b, l, ft, d));
          p = arith::MulFOp::create(
              b, l, p, arith::MulFOp::create(b, l, a[1], a[3]));
          linalg::YieldOp::create(
              b, l, arith::AddFOp::create(b, l, a.back(), p).getResult());
        });
    product.setLibraryCallAttr(rewriter.getStringAttr(
        wz ? "tailor_q4z_matmul" : "tailor_q4_matmul"));
    return tensor::CollapseShapeOp::create(
        rewriter, loc, product.getResult(0),
        {ReassociationIndices{0}, ReassociationIndices{1, 2}});
  }

  /// Whether a W8A8 linear takes the micro-kernel: a constant [K, N] i8
  /// weight without zero points, K a multiple of 4 (at most 66308: the
  /// kernel's i32 sums of u8 x i8 products stay exact), N a multiple of 16,
  /// f32 input.
  static bool w8a8Qualifies(Value weight, quant::UniformQuantizedPerAxisType q,
                            Value x) {
    auto wType = cast<RankedTensorType>(weight.getType());
    auto cst = weight.getDefiningOp<arith::ConstantOp>();
    return cst && wType.hasStaticShape() &&
           int64_t(int8Values(cst).size()) == wType.getNumElements() &&
           wType.getDimSize(0) % 4 == 0 && wType.getDimSize(0) <= 66308 &&
           wType.getDimSize(1) % 16 == 0 &&
           getElementTypeOrSelf(x.getType()).isF32() &&
           llvm::all_of(q.getZeroPoints(), [](int64_t z) { return z == 0; });
  }

  /// The W8A8 micro-kernel product for x [R, K] and a qualifying weight
  /// (w8a8Qualifies):
  ///   1. x quantized per row to i8 values in [-127, 127] and xs [R, 1]
  ///   2. one linalg.generic {library_call = "tailor_q8_matmul"} over the
  ///      weight packed here in tiles of 16 columns, rows in quads, each
  ///      byte the unsigned u = w + 128 (vpdpbusd's u8 x i8 operands):
  ///        y[r, t, c] += xs[r] * ws[t, c] * xq[r, q, i] * (wp[t, q, c, i] - 128)
  ///      with row k = 4q + i, column n = t*16 + c (loops r, t, c, q, i).
  Value w8a8KernelProduct(OpBuilder &rewriter, Location loc, Value x,
                          OpFoldResult rows, Value weight,
                          quant::UniformQuantizedPerAxisType q) const {
    auto wType = cast<RankedTensorType>(weight.getType());
    int64_t k = wType.getDimSize(0), n = wType.getDimSize(1);
    int64_t tiles = n / 16, quads = k / 4;
    auto cst = weight.getDefiningOp<arith::ConstantOp>();
    SmallVector<int8_t> values = int8Values(cst);
    if (int64_t(values.size()) != k * n) {
      emitError(loc, "W8A8 weight constant has ")
          << values.size() << " readable values, expected " << k * n;
      return {};
    }
    Type i8 = rewriter.getI8Type(), f32 = rewriter.getF32Type();
    AsmResourceBlob packed = HeapAsmResourceBlob::allocate(size_t(k * n), 64);
    MutableArrayRef<char> bytes = packed.getMutableData();
    for (int64_t t = 0; t < tiles; ++t)
      for (int64_t p = 0; p < quads; ++p)
        for (int64_t c = 0; c < 16; ++c)
          for (int64_t i = 0; i < 4; ++i)
            bytes[((t * quads + p) * 16 + c) * 4 + i] =
                char(uint8_t(values[(4 * p + i) * n + t * 16 + c] + 128));
    Value wp = arith::ConstantOp::create(
        rewriter, loc,
        DenseResourceElementsAttr::get(
            RankedTensorType::get({tiles, quads, 16, 4}, i8), "tailor_w8a8",
            std::move(packed)));
    SmallVector<float> scales(q.getScales().begin(), q.getScales().end());
    Value ws = arith::ConstantOp::create(
        rewriter, loc,
        DenseElementsAttr::get(RankedTensorType::get({tiles, 16}, f32),
                               ArrayRef<float>(scales)));

    auto [xq, xs] = quantizeActivations(rewriter, loc, x, rows, 1, k, i8);
    int64_t rowsStatic = cast<RankedTensorType>(x.getType()).getDimSize(0);
    Value xq3 = tensor::ExpandShapeOp::create(
        rewriter, loc, RankedTensorType::get({rowsStatic, quads, 4}, i8), xq,
        {ReassociationIndices{0}, ReassociationIndices{1, 2}},
        ArrayRef<OpFoldResult>{rows, rewriter.getIndexAttr(quads),
                               rewriter.getIndexAttr(4)});

    MLIRContext *ctx = rewriter.getContext();
    using IT = utils::IteratorType;
    AffineExpr r = getAffineDimExpr(0, ctx), t = getAffineDimExpr(1, ctx),
               c = getAffineDimExpr(2, ctx), p = getAffineDimExpr(3, ctx),
               i = getAffineDimExpr(4, ctx);
    AffineExpr zero = getAffineConstantExpr(0, ctx);
    SmallVector<AffineMap> maps{AffineMap::get(5, 0, {r, p, i}, ctx),
                                AffineMap::get(5, 0, {r, zero}, ctx),
                                AffineMap::get(5, 0, {t, p, c, i}, ctx),
                                AffineMap::get(5, 0, {t, c}, ctx),
                                AffineMap::get(5, 0, {r, t, c}, ctx)};
    Value yInit = filledTensor(
        rewriter, loc,
        {rows, rewriter.getIndexAttr(tiles), rewriter.getIndexAttr(16)},
        zeroOf(rewriter, loc, f32));
    auto product = linalg::GenericOp::create(
        rewriter, loc,
        TypeRange{RankedTensorType::get({rowsStatic, tiles, 16}, f32)},
        ValueRange{xq3, xs, wp, ws}, ValueRange{yInit}, maps,
        ArrayRef<IT>{IT::parallel, IT::parallel, IT::parallel, IT::reduction,
                     IT::reduction},
        [](OpBuilder &b, Location l, ValueRange a) {
          // w = u - 128 with u the stored byte read as unsigned.
          Type ft = a.back().getType(), it = b.getI32Type();
          Value w = arith::SubIOp::create(
              b, l, arith::ExtUIOp::create(b, l, it, a[2]),
              arith::ConstantOp::create(b, l, b.getI32IntegerAttr(128)));
          Value v = arith::MulFOp::create(
              b, l, arith::SIToFPOp::create(b, l, ft, a[0]),
              arith::SIToFPOp::create(b, l, ft, w));
          v = arith::MulFOp::create(b, l, v,
                                    arith::MulFOp::create(b, l, a[1], a[3]));
          linalg::YieldOp::create(
              b, l, arith::AddFOp::create(b, l, a.back(), v).getResult());
        });
    product.setLibraryCallAttr(rewriter.getStringAttr("tailor_q8_matmul"));
    return tensor::CollapseShapeOp::create(
        rewriter, loc, product.getResult(0),
        {ReassociationIndices{0}, ReassociationIndices{1, 2}});
  }

  /// x [R, K] rounded to its per-row int8 grid (W8A8 semantics, see the op):
  /// xs[r] * xq[r, k] in f32.
  static Value roundToActivationGrid(OpBuilder &rewriter, Location loc, Value x,
                                     OpFoldResult rows) {
    auto xType = cast<RankedTensorType>(x.getType());
    int64_t k = xType.getDimSize(1);
    auto [xq, xs] = quantizeActivations(rewriter, loc, x, rows, 1, k,
                                        rewriter.getI32Type());
    MLIRContext *ctx = rewriter.getContext();
    Type f32 = xType.getElementType(); // xs has the input's type
    AffineExpr d0 = getAffineDimExpr(0, ctx);
    SmallVector<OpFoldResult> dims = getDims(rewriter, loc, x);
    return linalg::GenericOp::create(
               rewriter, loc,
               TypeRange{RankedTensorType::get(xType.getShape(), f32)},
               ValueRange{xq, xs},
               ValueRange{emptyTensor(rewriter, loc, dims, f32)},
               ArrayRef<AffineMap>{
                   AffineMap::getMultiDimIdentityMap(2, ctx),
                   AffineMap::get(2, 0, {d0, getAffineConstantExpr(0, ctx)},
                                  ctx),
                   AffineMap::getMultiDimIdentityMap(2, ctx)},
               ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                             utils::IteratorType::parallel},
               [](OpBuilder &b, Location l, ValueRange a) {
                 Value v = arith::MulFOp::create(
                     b, l, arith::SIToFPOp::create(b, l, a[2].getType(), a[0]),
                     a[1]);
                 linalg::YieldOp::create(b, l, v);
               })
        .getResult(0);
  }

  /// y[r, n] = sum_g s[g, n] * (P[r, g, n] - z[g, n] * X[r, g]) for x [R, K]
  /// (see lowerGrouped).
  Value groupedProduct(ConversionPatternRewriter &rewriter, Location loc,
                       Value x, OpFoldResult rows, int64_t rowsStatic,
                       Value weight,
                       quant::UniformQuantizedSubChannelType q) const {
    MLIRContext *ctx = rewriter.getContext();
    auto wType = cast<RankedTensorType>(weight.getType());
    int64_t k = wType.getDimSize(0), n = wType.getDimSize(1);
    int64_t g = q.getBlockSizes()[0], groups = k / g;
    Type f32 = rewriter.getF32Type();
    // x [R, K] -> [R, groups, G]; q [K, N] -> [groups, G, N].
    Value x3 = tensor::ExpandShapeOp::create(
        rewriter, loc, RankedTensorType::get({rowsStatic, groups, g}, f32), x,
        {ReassociationIndices{0}, ReassociationIndices{1, 2}},
        ArrayRef<OpFoldResult>{rows, rewriter.getIndexAttr(groups),
                               rewriter.getIndexAttr(g)});
    Value q3 = tensor::ExpandShapeOp::create(
        rewriter, loc,
        RankedTensorType::get({groups, g, n}, wType.getElementType()),
        weight,
        {ReassociationIndices{0, 1}, ReassociationIndices{2}});
    AffineExpr r = getAffineDimExpr(0, ctx), gi = getAffineDimExpr(1, ctx),
               c = getAffineDimExpr(2, ctx), j = getAffineDimExpr(3, ctx);
    using IT = utils::IteratorType;
    Value pInit = filledTensor(
        rewriter, loc,
        {rows, rewriter.getIndexAttr(groups), rewriter.getIndexAttr(n)},
        zeroOf(rewriter, loc, f32));
    Value p =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{pInit.getType()}, ValueRange{x3, q3},
            ValueRange{pInit},
            ArrayRef<AffineMap>{AffineMap::get(4, 0, {r, gi, j}, ctx),
                                AffineMap::get(4, 0, {gi, j, c}, ctx),
                                AffineMap::get(4, 0, {r, gi, c}, ctx)},
            ArrayRef<IT>{IT::parallel, IT::parallel, IT::parallel,
                         IT::reduction},
            [](OpBuilder &b, Location l, ValueRange a) {
              Value w = arith::SIToFPOp::create(b, l, a[0].getType(), a[1]);
              Value m = arith::MulFOp::create(b, l, a[0], w);
              linalg::YieldOp::create(
                  b, l, arith::AddFOp::create(b, l, a[2], m).getResult());
            })
            .getResult(0);
    auto constant = [&](DenseElementsAttr values, Type elt) -> Value {
      SmallVector<float> v;
      if (isa<FloatType>(values.getElementType()))
        for (APFloat f : values.getValues<APFloat>())
          v.push_back(float(f.convertToDouble()));
      else
        for (APInt i : values.getValues<APInt>())
          v.push_back(float(i.getSExtValue()));
      return arith::ConstantOp::create(
          rewriter, loc,
          DenseElementsAttr::get(RankedTensorType::get({groups, n}, elt),
                                 ArrayRef<float>(v)));
    };
    Value scales = constant(q.getScales(), f32);
    bool zeroPoints = llvm::any_of(q.getZeroPoints().getValues<APInt>(),
                                   [](const APInt &z) { return !z.isZero(); });
    SmallVector<Value> ins{p, scales};
    SmallVector<AffineMap> maps{AffineMap::get(3, 0, {r, gi, c}, ctx),
                                AffineMap::get(3, 0, {gi, c}, ctx)};
    if (zeroPoints) {
      // X[r, g] = sum_j x[r, g, j]
      Value xsInit = filledTensor(
          rewriter, loc, {rows, rewriter.getIndexAttr(groups)},
          zeroOf(rewriter, loc, f32));
      Value xs =
          linalg::GenericOp::create(
              rewriter, loc, TypeRange{xsInit.getType()}, ValueRange{x3},
              ValueRange{xsInit},
              ArrayRef<AffineMap>{
                  AffineMap::get(3, 0, {r, gi, c}, ctx),
                  AffineMap::get(3, 0, {r, gi}, ctx)},
              ArrayRef<IT>{IT::parallel, IT::parallel, IT::reduction},
              [](OpBuilder &b, Location l, ValueRange a) {
                linalg::YieldOp::create(
                    b, l, arith::AddFOp::create(b, l, a[1], a[0]).getResult());
              })
              .getResult(0);
      ins.push_back(constant(q.getZeroPoints(), f32));
      ins.push_back(xs);
      maps.push_back(AffineMap::get(3, 0, {gi, c}, ctx));
      maps.push_back(AffineMap::get(3, 0, {r, gi}, ctx));
    }
    Value yInit = filledTensor(rewriter, loc, {rows, rewriter.getIndexAttr(n)},
                               zeroOf(rewriter, loc, f32));
    maps.push_back(AffineMap::get(3, 0, {r, c}, ctx));
    Value y =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{yInit.getType()}, ins, ValueRange{yInit},
            maps, ArrayRef<IT>{IT::parallel, IT::reduction, IT::parallel},
            [&](OpBuilder &b, Location l, ValueRange a) {
              Value acc = a[0];
              if (zeroPoints)
                acc = arith::SubFOp::create(
                    b, l, acc, arith::MulFOp::create(b, l, a[2], a[3]));
              Value t = arith::MulFOp::create(b, l, acc, a[1]);
              linalg::YieldOp::create(
                  b, l,
                  arith::AddFOp::create(b, l, a.back(), t).getResult());
            })
            .getResult(0);
    return y;
  }

  /// A per-output-channel weight: y = (x . q) * s[n] (+ b[n]). The product
  /// reads the integers (linalg.matmul converts them in its body); the
  /// scale is applied once per output, not per weight.
  LogicalResult lowerQuantized(LinearOp op, OpAdaptor adaptor,
                               quant::QuantizedType q, RankedTensorType type,
                               ConversionPatternRewriter &rewriter) const {
    if (auto sub = dyn_cast<quant::UniformQuantizedSubChannelType>(q))
      return lowerGrouped(op, adaptor, sub, type, rewriter);
    auto perAxis = dyn_cast<quant::UniformQuantizedPerAxisType>(q);
    if (!perAxis || perAxis.getQuantizedDimension() != 1 ||
        !perAxis.getStorageType().isInteger(8) || !perAxis.isSigned())
      return op.emitOpError("has no lowering yet for the quantized weight ")
             << q << " (lowered: int8 per output channel)";
    Location loc = op.getLoc();
    Value x = adaptor.getInput();
    if (op.getActivationQuant()) {
      // W8A8: the int8 x int8 micro-kernel where the weight qualifies, else
      // the activations rounded to their int8 grid (the same values) and
      // the weight-only product below.
      int64_t k =
          cast<RankedTensorType>(adaptor.getWeight().getType()).getDimSize(0);
      int64_t n =
          cast<RankedTensorType>(adaptor.getWeight().getType()).getDimSize(1);
      if (w8a8Qualifies(adaptor.getWeight(), perAxis, x))
        return lowerRows(op, adaptor, type, n, rewriter,
                         [&](Value rowsX, OpFoldResult rows, int64_t) {
                           return w8a8KernelProduct(rewriter, loc, rowsX, rows,
                                                    adaptor.getWeight(),
                                                    perAxis);
                         });
      x = castTo(rewriter, loc,
                 applyToRows(rewriter, loc, x, k,
                             [&](Value rowsX, OpFoldResult rows, int64_t) {
                               return roundToActivationGrid(rewriter, loc,
                                                            rowsX, rows);
                             }),
                 x.getType());
    }
    Value y = buildMatmul(rewriter, loc, x, adaptor.getWeight(), type);
    auto vector = [&](auto values) {
      SmallVector<float> v(values.begin(), values.end());
      auto t = RankedTensorType::get({int64_t(v.size())}, type.getElementType());
      return arith::ConstantOp::create(
          rewriter, loc, DenseElementsAttr::get(t, ArrayRef<float>(v)));
    };
    // y = s[n] * (sum_k x[k] q[k, n] - z[n] * sum_k x[k]) (+ b[n]): a zero
    // point costs one row sum of x, not a pass over the weight.
    bool zeroPoints =
        llvm::any_of(perAxis.getZeroPoints(), [](int64_t z) { return z; });
    SmallVector<Value> inputs{y, vector(perAxis.getScales())};
    if (zeroPoints) {
      inputs.push_back(vector(perAxis.getZeroPoints()));
      inputs.push_back(rowSums(rewriter, loc, x));
    }
    if (adaptor.getBias())
      inputs.push_back(adaptor.getBias());
    y = buildElementwise(
        rewriter, loc, type, inputs,
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value acc = args[0];
          unsigned next = 2;
          if (zeroPoints) {
            Value zx = arith::MulFOp::create(b, l, args[2], args[3]);
            acc = arith::SubFOp::create(b, l, acc, zx);
            next = 4;
          }
          Value r = arith::MulFOp::create(b, l, acc, args[1]);
          if (args.size() > next)
            r = arith::AddFOp::create(b, l, r, args[next]);
          return r;
        });
    rewriter.replaceOp(op, y);
    return success();
  }
};

/// quant.scast: a quantized value is its storage integers after lowering.
struct StorageCastLowering : OpConversionPattern<quant::StorageCastOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(quant::StorageCastOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Type to = getTypeConverter()->convertType(op.getType());
    if (!to || to != adaptor.getInput().getType())
      return rewriter.notifyMatchFailure(op, "not a storage-type cast");
    rewriter.replaceOp(op, adaptor.getInput());
    return success();
  }
};

/// Einsum: one linalg.generic, a loop per subscript letter (and per
/// ellipsis dim); letters absent from the output are reductions; a letter
/// repeated in one operand reads its diagonal.
struct EinsumLowering : OpConversionPattern<OnnxEinsumOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(OnnxEinsumOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    Location loc = op.getLoc();
    ValueRange inputs = adaptor.getInputs();
    std::string eq;
    for (char c : op.getEquation())
      if (c != ' ')
        eq += c;
    StringRef equation(eq);
    auto [lhs, rhs] = equation.split("->");
    bool explicitOut = equation.contains("->");
    SmallVector<StringRef> terms;
    lhs.split(terms, ',');
    if (terms.size() != inputs.size())
      return op.emitOpError("equation '")
             << op.getEquation() << "' names " << terms.size()
             << " operands; the op has " << inputs.size();
    // Ellipsis dims: as many as the widest operand needs, right-aligned.
    int64_t ellipsis = 0;
    SmallVector<SmallVector<char>> letters(terms.size());
    SmallVector<int64_t> ellipsisOf(terms.size(), -1);
    for (auto [i, term] : llvm::enumerate(terms)) {
      int64_t rank = cast<RankedTensorType>(inputs[i].getType()).getRank();
      size_t dots = term.find("...");
      int64_t named = 0;
      for (char c : term)
        named += llvm::isAlpha(c);
      if (dots != StringRef::npos) {
        ellipsisOf[i] = rank - named;
        ellipsis = std::max(ellipsis, ellipsisOf[i]);
      } else if (named != rank) {
        return op.emitOpError("term '") << term << "' has " << named
                                        << " subscripts for operand " << i
                                        << " of rank " << rank;
      }
      for (char c : term)
        if (llvm::isAlpha(c))
          letters[i].push_back(c);
    }
    // Loop dims: ellipsis dims 0..E-1, then letters by first appearance.
    SmallVector<char> order;
    for (const auto &ls : letters)
      for (char c : ls)
        if (!llvm::is_contained(order, c))
          order.push_back(c);
    auto dimOf = [&](char c) {
      return ellipsis + int64_t(llvm::find(order, c) - order.begin());
    };
    int64_t numLoops = ellipsis + int64_t(order.size());
    MLIRContext *ctx = rewriter.getContext();
    // Output subscripts: explicit, or the ellipsis then the letters used
    // once, in alphabetical order.
    SmallVector<AffineExpr> outExprs;
    SmallVector<bool> isOut(numLoops, false);
    auto addOut = [&](int64_t d) {
      outExprs.push_back(getAffineDimExpr(d, ctx));
      isOut[d] = true;
    };
    if (explicitOut) {
      for (size_t p = 0; p < rhs.size(); ++p) {
        if (rhs.substr(p).starts_with("...")) {
          for (int64_t e = 0; e < ellipsis; ++e)
            addOut(e);
          p += 2;
        } else if (llvm::isAlpha(rhs[p])) {
          if (!llvm::is_contained(order, rhs[p]))
            return op.emitOpError("output subscript '")
                   << rhs[p] << "' names no input dim";
          addOut(dimOf(rhs[p]));
        }
      }
    } else {
      for (int64_t e = 0; e < ellipsis; ++e)
        addOut(e);
      SmallVector<char> once;
      for (char c : order) {
        int64_t n = 0;
        for (const auto &ls : letters)
          n += llvm::count(ls, c);
        if (n == 1)
          once.push_back(c);
      }
      llvm::sort(once);
      for (char c : once)
        addOut(dimOf(c));
    }
    if (int64_t(outExprs.size()) != type->getRank())
      return op.emitOpError("equation output has ")
             << outExprs.size() << " dims; the result has rank "
             << type->getRank();
    // Operand maps and the loop sizes (from the first operand that has
    // each dim; a static 1 against a larger size broadcasts).
    SmallVector<OpFoldResult> loopSize(numLoops);
    SmallVector<AffineMap> maps;
    for (auto [i, term] : llvm::enumerate(terms)) {
      Value in = inputs[i];
      auto inType = cast<RankedTensorType>(in.getType());
      SmallVector<int64_t> dims;
      for (size_t p = 0; p < term.size(); ++p) {
        if (term.substr(p).starts_with("...")) {
          for (int64_t e = ellipsis - ellipsisOf[i]; e < ellipsis; ++e)
            dims.push_back(e);
          p += 2;
        } else if (llvm::isAlpha(term[p])) {
          dims.push_back(dimOf(term[p]));
        }
      }
      for (auto [pos, d] : llvm::enumerate(dims))
        if (!loopSize[d] || (isConstantIntValue(loopSize[d], 1) &&
                             inType.getDimSize(pos) != 1))
          loopSize[d] = getDims(rewriter, loc, in)[pos];
      SmallVector<AffineExpr> exprs;
      for (auto [pos, d] : llvm::enumerate(dims))
        exprs.push_back(inType.getDimSize(pos) == 1
                            ? getAffineConstantExpr(0, ctx)
                            : getAffineDimExpr(d, ctx));
      maps.push_back(AffineMap::get(numLoops, 0, exprs, ctx));
    }
    maps.push_back(AffineMap::get(numLoops, 0, outExprs, ctx));
    SmallVector<OpFoldResult> outDims;
    for (AffineExpr e : outExprs)
      outDims.push_back(loopSize[cast<AffineDimExpr>(e).getPosition()]);
    SmallVector<utils::IteratorType> iterators;
    for (int64_t d = 0; d < numLoops; ++d)
      iterators.push_back(isOut[d] ? utils::IteratorType::parallel
                                   : utils::IteratorType::reduction);
    Type elem = type->getElementType();
    bool isF = isFloat(elem);
    Value init = castTo(rewriter, loc,
                        filledTensor(rewriter, loc, outDims,
                                     zeroOf(rewriter, loc,
                                            elementTypeOf(op.getType()))),
                        *type);
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{*type}, inputs, ValueRange{init}, maps,
        iterators, [&](OpBuilder &b, Location l, ValueRange args) {
          Value p = args[0];
          for (Value v : args.drop_front().drop_back())
            p = isF ? arith::MulFOp::create(b, l, p, v).getResult()
                    : arith::MulIOp::create(b, l, p, v).getResult();
          Value acc = args.back();
          Value r = isF ? arith::AddFOp::create(b, l, acc, p).getResult()
                        : arith::AddIOp::create(b, l, acc, p).getResult();
          linalg::YieldOp::create(b, l, r);
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }
};
} // namespace

void lowering::populateContractionPatterns(const TypeConverter &converter,
                                           RewritePatternSet &patterns,
                                           bool int4Kernel) {
  patterns.add<MatMulLowering, GemmLowering, EinsumLowering,
               StorageCastLowering>(converter, patterns.getContext());
  patterns.add<LinearLowering>(converter, patterns.getContext(), int4Kernel);
}
