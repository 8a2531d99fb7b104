//===- Quantization.cpp - ONNX quantization ops to linalg -----------------===//
//
// QuantizeLinear / DequantizeLinear (scalar or per-axis scales),
// DynamicQuantizeLinear (uint8, scale and zero point from the data's range),
// MatMulInteger and QLinearMatMul (int32 accumulation). Rounding is to
// nearest, ties to even, and results saturate, as ONNX defines them.
// tailor.fake_quant (quantization-aware training): a weight through the
// RTN quantization of tailor-quantize and back, in float.

#include "Utils.h"

#include "tailor/Support/NF4.h"

#include "mlir/Dialect/Math/IR/Math.h"

using namespace mlir;
using namespace mlir::tailor;
using namespace mlir::tailor::lowering;

namespace {

/// A quantized integer (ONNX type `type`, held signless) as i32.
Value widen(OpBuilder &b, Location l, Value v, Type type) {
  Type i32 = b.getI32Type();
  if (v.getType() == i32)
    return v;
  if (isUnsigned(type))
    return arith::ExtUIOp::create(b, l, i32, v);
  return arith::ExtSIOp::create(b, l, i32, v);
}

/// saturate(roundeven(x) + zp) into the ONNX integer type `type`.
Value quantize(OpBuilder &b, Location l, Value x, Value zp, Type type) {
  Type f32 = b.getF32Type();
  Value r = math::RoundEvenOp::create(b, l, x);
  if (zp)
    r = arith::AddFOp::create(b, l, r, arith::SIToFPOp::create(b, l, f32, zp));
  unsigned width = type.getIntOrFloatBitWidth();
  bool isU = isUnsigned(type);
  double lo = isU ? 0 : -double(1ull << (width - 1));
  double hi = isU ? double((1ull << width) - 1) : double((1ull << (width - 1)) - 1);
  r = arith::MaximumFOp::create(
      b, l, r, arith::ConstantOp::create(b, l, f32, b.getF32FloatAttr(lo)));
  r = arith::MinimumFOp::create(
      b, l, r, arith::ConstantOp::create(b, l, f32, b.getF32FloatAttr(hi)));
  Value i = arith::FPToSIOp::create(b, l, b.getI32Type(), r);
  Type out = b.getIntegerType(width);
  return width == 32 ? i : arith::TruncIOp::create(b, l, out, i).getResult();
}

/// A scale or zero point ready to be read along loop dim `along` of a
/// `loops`-dim generic: a scalar is read everywhere, a 1-D one along
/// `along`; a 1-D one whose size is only known at run time (it may be 1)
/// is broadcast to `size` first. Sets `map`.
FailureOr<Value> perAxis(Operation *op, OpBuilder &b, Location loc, Value v,
                         unsigned loops, AffineExpr along, OpFoldResult size,
                         AffineMap &map) {
  MLIRContext *ctx = b.getContext();
  auto t = cast<RankedTensorType>(v.getType());
  if (t.getRank() == 0) {
    map = AffineMap::get(loops, 0, {}, ctx);
    return v;
  }
  if (t.getRank() != 1)
    return op->emitOpError("scales and zero points must be scalars or 1-D");
  if (t.getDimSize(0) == 1) {
    map = AffineMap::get(loops, 0, {getAffineConstantExpr(0, ctx)}, ctx);
    return v;
  }
  std::optional<int64_t> axisSize = getConstantIntValue(size);
  if (!t.isDynamicDim(0) && axisSize && *axisSize != t.getDimSize(0))
    return op->emitOpError("has ")
           << t.getDimSize(0)
           << " scales or zero points for an axis of size " << *axisSize;
  if (t.isDynamicDim(0)) {
    auto wide = RankedTensorType::get({ShapedType::kDynamic},
                                      t.getElementType());
    v = broadcastTo(b, loc, v, {size}, wide);
  }
  map = AffineMap::get(loops, 0, {along}, ctx);
  return v;
}

/// Shared by QuantizeLinear and DequantizeLinear: one generic over x with
/// the scale and the optional zero point read per element.
template <typename OpTy>
LogicalResult lowerLinear(OpTy op, Value x, Value scale, Value zp,
                          Type zpOnnxType, RankedTensorType type,
                          ConversionPatternRewriter &rewriter,
                          function_ref<Value(OpBuilder &, Location, Value x,
                                             Value scale, Value zp)>
                              body) {
  Location loc = op.getLoc();
  MLIRContext *ctx = rewriter.getContext();
  int64_t rank = type.getRank();
  // The axis matters for 1-D parameters only (a per-tensor x may be 1-D).
  bool perAxisParams = llvm::any_of(ValueRange{scale, zp}, [](Value v) {
    return v && cast<RankedTensorType>(v.getType()).getRank() == 1 &&
           cast<RankedTensorType>(v.getType()).getDimSize(0) != 1;
  });
  std::optional<int64_t> axis =
      perAxisParams ? normalizeAxis(op.getAxis(), rank)
                    : std::optional<int64_t>(0);
  if (!axis)
    return op.emitOpError("axis ") << op.getAxis() << " is out of range";
  SmallVector<Value> inputs{x};
  SmallVector<AffineMap> maps{rewriter.getMultiDimIdentityMap(rank)};
  OpFoldResult axisSize =
      rank ? getDims(rewriter, loc, x)[*axis] : rewriter.getIndexAttr(1);
  AffineExpr along = rank ? getAffineDimExpr(*axis, ctx)
                          : getAffineConstantExpr(0, ctx);
  for (Value v : {scale, zp}) {
    if (!v)
      continue;
    AffineMap map;
    auto read = perAxis(op, rewriter, loc, v, rank, along, axisSize, map);
    if (failed(read))
      return failure();
    inputs.push_back(*read);
    maps.push_back(map);
  }
  maps.push_back(rewriter.getMultiDimIdentityMap(rank));
  Value init = castTo(rewriter, loc,
                      emptyTensor(rewriter, loc, getDims(rewriter, loc, x),
                                  type.getElementType()),
                      type);
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      rewriter, loc, TypeRange{type}, inputs, ValueRange{init}, maps,
      iterators, [&](OpBuilder &b, Location l, ValueRange a) {
        Value z = zp ? widen(b, l, a[2], zpOnnxType) : Value();
        linalg::YieldOp::create(b, l, body(b, l, a[0], a[1], z));
      });
  rewriter.replaceOp(op, generic.getResult(0));
  return success();
}

struct DequantizeLinearLowering : OpConversionPattern<OnnxDequantizeLinearOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OnnxDequantizeLinearOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    Type xType = elementTypeOf(op.getX().getType());
    Type zpType =
        op.getXZeroPoint() ? elementTypeOf(op.getXZeroPoint().getType()) : xType;
    return lowerLinear(
        op, adaptor.getX(), adaptor.getXScale(), adaptor.getXZeroPoint(),
        zpType, *type, rewriter,
        [&](OpBuilder &b, Location l, Value x, Value scale, Value zp) {
          Value v = widen(b, l, x, xType);
          if (zp)
            v = arith::SubIOp::create(b, l, v, zp);
          Value f = arith::SIToFPOp::create(b, l, b.getF32Type(), v);
          return arith::MulFOp::create(b, l, f, scale).getResult();
        });
  }
};

struct QuantizeLinearLowering : OpConversionPattern<OnnxQuantizeLinearOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OnnxQuantizeLinearOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    Type outType = elementTypeOf(op.getType());
    Type xType = elementTypeOf(op.getX().getType());
    return lowerLinear(
        op, adaptor.getX(), adaptor.getYScale(), adaptor.getYZeroPoint(),
        outType, *type, rewriter,
        [&](OpBuilder &b, Location l, Value x, Value scale, Value zp) {
          Value f = isFloat(xType)
                        ? x
                        : arith::SIToFPOp::create(b, l, b.getF32Type(), x)
                              .getResult();
          Value q = arith::DivFOp::create(b, l, f, scale);
          return quantize(b, l, q, zp, outType);
        });
  }
};

struct DynamicQuantizeLinearLowering
    : OpConversionPattern<OnnxDynamicQuantizeLinearOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OnnxDynamicQuantizeLinearOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto yType = convertedResultType(*getTypeConverter(), rewriter, op, 0);
    if (failed(yType))
      return failure();
    Location loc = op.getLoc();
    Value x = adaptor.getX();
    int64_t rank = cast<RankedTensorType>(x.getType()).getRank();
    Type f32 = rewriter.getF32Type();
    auto scalarType = RankedTensorType::get({}, f32);
    SmallVector<int64_t> axes;
    for (int64_t i = 0; i < rank; ++i)
      axes.push_back(i);
    // The range always includes 0 (ONNX: min(0, x), max(0, x)).
    Value zero = scalarConstant(rewriter, loc, f32, 0.0);
    Value lo = buildReduction(rewriter, loc, x, axes, false, zero, scalarType,
                              [](OpBuilder &b, Location l, Value v, Value acc) {
                                return arith::MinimumFOp::create(b, l, acc, v)
                                    .getResult();
                              });
    Value hi = buildReduction(rewriter, loc, x, axes, false, zero, scalarType,
                              [](OpBuilder &b, Location l, Value v, Value acc) {
                                return arith::MaximumFOp::create(b, l, acc, v)
                                    .getResult();
                              });
    Value lov = tensor::ExtractOp::create(rewriter, loc, lo, ValueRange{});
    Value hiv = tensor::ExtractOp::create(rewriter, loc, hi, ValueRange{});
    Value scale = arith::DivFOp::create(
        rewriter, loc, arith::SubFOp::create(rewriter, loc, hiv, lov),
        scalarConstant(rewriter, loc, f32, 255.0));
    Type u8 = rewriter.getIntegerType(8, /*isSigned=*/false);
    Value zpFloat = arith::NegFOp::create(
        rewriter, loc, arith::DivFOp::create(rewriter, loc, lov, scale));
    Value zp8 = quantize(rewriter, loc, zpFloat, Value(), u8);
    Value zp32 = arith::ExtUIOp::create(rewriter, loc, rewriter.getI32Type(), zp8);
    Value y = buildElementwise(
        rewriter, loc, *yType, ValueRange{x},
        [&](OpBuilder &b, Location l, ValueRange a) {
          Value q = arith::DivFOp::create(b, l, a[0], scale);
          return quantize(b, l, q, zp32, u8);
        });
    auto scaleType = convertedResultType(*getTypeConverter(), rewriter, op, 1);
    auto zpType = convertedResultType(*getTypeConverter(), rewriter, op, 2);
    if (failed(scaleType) || failed(zpType))
      return failure();
    Value scaleT = tensor::FromElementsOp::create(
        rewriter, loc, RankedTensorType::get({}, f32), ValueRange{scale});
    Value zpT = tensor::FromElementsOp::create(
        rewriter, loc, RankedTensorType::get({}, rewriter.getI8Type()),
        ValueRange{zp8});
    scaleT = castTo(rewriter, loc, scaleT, *scaleType);
    zpT = castTo(rewriter, loc, zpT, *zpType);
    rewriter.replaceOp(op, ValueRange{y, scaleT, zpT});
    return success();
  }
};

/// sum_k (a[.., m, k] - azp) * (b[.., k, n] - bzp) in i32, for operands of
/// one rank (2 or more) with equal batch dims, or a 2-D b shared by every
/// batch of a.
FailureOr<Value> integerMatmul(Operation *op, OpBuilder &b, Location loc,
                               Value a, Type aType, Value azp, Value bm,
                               Type bType, Value bzp) {
  auto at = cast<RankedTensorType>(a.getType());
  auto bt = cast<RankedTensorType>(bm.getType());
  int64_t rank = at.getRank();
  bool shared = bt.getRank() == 2 && rank > 2;
  if (rank < 2 || (bt.getRank() != rank && !shared))
    return op->emitOpError("needs operands of one rank (2 or more), or a "
                           "2-D second operand, to be lowered");
  MLIRContext *ctx = b.getContext();
  int64_t loops = rank + 1; // batch..., m, n, k
  SmallVector<AffineExpr> batch;
  for (int64_t i = 0; i < rank - 2; ++i)
    batch.push_back(getAffineDimExpr(i, ctx));
  AffineExpr m = getAffineDimExpr(rank - 2, ctx),
             n = getAffineDimExpr(rank - 1, ctx), k = getAffineDimExpr(rank, ctx);
  auto with = [&](std::initializer_list<AffineExpr> tail) {
    SmallVector<AffineExpr> e(batch);
    e.append(tail);
    return AffineMap::get(loops, 0, e, ctx);
  };
  SmallVector<Value> inputs{a, bm};
  SmallVector<AffineMap> maps{
      with({m, k}), shared ? AffineMap::get(loops, 0, {k, n}, ctx) : with({k, n})};
  SmallVector<OpFoldResult> aDims = getDims(b, loc, a), bDims = getDims(b, loc, bm);
  for (auto [zp, along, size] : {std::tuple{azp, m, aDims[rank - 2]},
                                 {bzp, n, bDims.back()}}) {
    if (!zp)
      continue;
    AffineMap map;
    auto read = perAxis(op, b, loc, zp, loops, along, size, map);
    if (failed(read))
      return failure();
    inputs.push_back(*read);
    maps.push_back(map);
  }
  SmallVector<OpFoldResult> dims = getDims(b, loc, a);
  dims.back() = bDims.back();
  SmallVector<int64_t> shape(at.getShape());
  shape.back() = bt.getDimSize(bt.getRank() - 1);
  auto resultType = RankedTensorType::get(shape, b.getI32Type());
  Value init = castTo(
      b, loc,
      filledTensor(b, loc, dims, arith::ConstantIntOp::create(b, loc, 0, 32)),
      resultType);
  maps.push_back(with({m, n}));
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  iterators.push_back(utils::IteratorType::reduction);
  bool hasA = bool(azp), hasB = bool(bzp);
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{resultType}, inputs, ValueRange{init}, maps, iterators,
      [&](OpBuilder &nb, Location l, ValueRange v) {
        Value x = widen(nb, l, v[0], aType), y = widen(nb, l, v[1], bType);
        unsigned next = 2;
        if (hasA)
          x = arith::SubIOp::create(nb, l, x, widen(nb, l, v[next++], aType));
        if (hasB)
          y = arith::SubIOp::create(nb, l, y, widen(nb, l, v[next++], bType));
        Value p = arith::MulIOp::create(nb, l, x, y);
        linalg::YieldOp::create(
            nb, l, arith::AddIOp::create(nb, l, v.back(), p).getResult());
      });
  return generic.getResult(0);
}

struct MatMulIntegerLowering : OpConversionPattern<OnnxMatMulIntegerOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OnnxMatMulIntegerOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    auto y = integerMatmul(op, rewriter, op.getLoc(), adaptor.getA(),
                           elementTypeOf(op.getA().getType()),
                           adaptor.getAZeroPoint(), adaptor.getB(),
                           elementTypeOf(op.getB().getType()),
                           adaptor.getBZeroPoint());
    if (failed(y))
      return failure();
    rewriter.replaceOp(op, castTo(rewriter, op.getLoc(), *y, *type));
    return success();
  }
};

struct QLinearMatMulLowering : OpConversionPattern<OnnxQLinearMatMulOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OnnxQLinearMatMulOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    Location loc = op.getLoc();
    // Per-tensor scales and output zero point (a scalar or one element;
    // a size known only at run time is trusted to be 1).
    for (Value s : {adaptor.getAScale(), adaptor.getBScale(),
                    adaptor.getYScale(), adaptor.getYZeroPoint()}) {
      auto t = cast<RankedTensorType>(s.getType());
      if (t.getRank() > 1 ||
          (t.getRank() == 1 && !t.isDynamicDim(0) && t.getDimSize(0) != 1))
        return op.emitOpError("needs per-tensor scales and output zero "
                              "point to be lowered");
    }
    auto acc = integerMatmul(op, rewriter, loc, adaptor.getA(),
                             elementTypeOf(op.getA().getType()),
                             adaptor.getAZeroPoint(), adaptor.getB(),
                             elementTypeOf(op.getB().getType()),
                             adaptor.getBZeroPoint());
    if (failed(acc))
      return failure();
    auto scalar = [&](Value t) {
      auto rt = cast<RankedTensorType>(t.getType());
      SmallVector<Value> zeros(rt.getRank(),
                               arith::ConstantIndexOp::create(rewriter, loc, 0));
      return tensor::ExtractOp::create(rewriter, loc, t, zeros).getResult();
    };
    Value multiplier = arith::DivFOp::create(
        rewriter, loc,
        arith::MulFOp::create(rewriter, loc, scalar(adaptor.getAScale()),
                              scalar(adaptor.getBScale())),
        scalar(adaptor.getYScale()));
    Type yOnnx = elementTypeOf(op.getType());
    Value yzp = widen(rewriter, loc, scalar(adaptor.getYZeroPoint()), yOnnx);
    Value y = buildElementwise(
        rewriter, loc, *type, ValueRange{*acc},
        [&](OpBuilder &b, Location l, ValueRange a) {
          Value f = arith::SIToFPOp::create(b, l, b.getF32Type(), a[0]);
          return quantize(b, l, arith::MulFOp::create(b, l, f, multiplier),
                          yzp, yOnnx);
        });
    rewriter.replaceOp(op, y);
    return success();
  }
};

/// tailor.fake_quant: [K, N] -> [G, g, N] groups of rows; the range of
/// each group's column (min and max with 0) by one reduction; then each
/// element quantized and dequantized with its group's parameters.
struct FakeQuantLowering : OpConversionPattern<FakeQuantOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(FakeQuantOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value w = adaptor.getWeight();
    auto type = cast<RankedTensorType>(w.getType());
    if (type.isDynamicDim(0) || !type.getElementType().isF32())
      return rewriter.notifyMatchFailure(op, "needs a static K and f32");
    int64_t k = type.getDimSize(0), n = type.getDimSize(1);
    int64_t g = op.getGroupSize() ? op.getGroupSize() : k, groups = k / g;
    int64_t bits = op.getBits();
    bool symmetric = op.getSymmetric();
    Type f32 = rewriter.getF32Type();
    SmallVector<OpFoldResult> outer{rewriter.getIndexAttr(groups),
                                    getDims(rewriter, loc, w)[1]};
    SmallVector<OpFoldResult> full{rewriter.getIndexAttr(groups),
                                   rewriter.getIndexAttr(g), outer[1]};
    auto grouped = tensor::ExpandShapeOp::create(
        rewriter, loc,
        RankedTensorType::get({groups, g, n}, f32), w,
        SmallVector<ReassociationIndices>{{0, 1}, {2}}, full);
    Value zero = scalarConstant(rewriter, loc, f32, 0.0);
    Value init = filledTensor(rewriter, loc, outer, zero);
    MLIRContext *ctx = rewriter.getContext();
    AffineExpr d0, d1, d2;
    bindDims(ctx, d0, d1, d2);
    auto all = AffineMap::get(3, 0, {d0, d1, d2}, ctx);
    auto perGroup = AffineMap::get(3, 0, {d0, d2}, ctx);
    auto range = linalg::GenericOp::create(
        rewriter, loc, TypeRange{init.getType(), init.getType()},
        ValueRange{grouped}, ValueRange{init, init},
        ArrayRef<AffineMap>{all, perGroup, perGroup},
        SmallVector<utils::IteratorType>{utils::IteratorType::parallel,
                                         utils::IteratorType::reduction,
                                         utils::IteratorType::parallel},
        [&](OpBuilder &b, Location l, ValueRange a) {
          Value lo = arith::MinimumFOp::create(b, l, a[1], a[0]);
          Value hi = arith::MaximumFOp::create(b, l, a[2], a[0]);
          linalg::YieldOp::create(b, l, ValueRange{lo, hi});
        });
    Value out = emptyTensor(rewriter, loc, full, f32);
    auto fq = linalg::GenericOp::create(
        rewriter, loc, TypeRange{out.getType()},
        ValueRange{grouped, range.getResult(0), range.getResult(1)},
        ValueRange{out}, ArrayRef<AffineMap>{all, perGroup, perGroup, all},
        SmallVector<utils::IteratorType>(3, utils::IteratorType::parallel),
        [&](OpBuilder &b, Location l, ValueRange a) {
          // In f64, as tailor-quantize computes it (the int4 scale rounded
          // to f32 first, as its kernels read it): the same integers.
          Type f64 = b.getF64Type();
          auto c = [&](double v) { return scalarConstant(b, l, f64, v); };
          auto wide = [&](Value v) { return arith::ExtFOp::create(b, l, f64, v); };
          Value x = wide(a[0]), lo = wide(a[1]), hi = wide(a[2]);
          double qmin = bits == 8 ? -127.0 : -8.0;
          double qmax = bits == 8 ? 127.0 : 7.0;
          Value s;
          if (symmetric)
            s = arith::DivFOp::create(
                b, l,
                arith::MaximumFOp::create(b, l,
                                          arith::NegFOp::create(b, l, lo), hi),
                c(bits == 8 ? 127.0 : 7.0));
          else
            s = arith::DivFOp::create(b, l, arith::SubFOp::create(b, l, hi, lo),
                                      c(15.0));
          // An all-zero range: any scale (1, as the PTQ pass).
          Value positive =
              arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGT, s, c(0.0));
          s = arith::SelectOp::create(b, l, positive, s, c(1.0));
          if (bits == 4)
            s = wide(arith::TruncFOp::create(b, l, f32, s));
          auto clamp = [&](Value v) {
            return arith::MinimumFOp::create(
                b, l, arith::MaximumFOp::create(b, l, v, c(qmin)), c(qmax));
          };
          Value z = c(0.0);
          if (!symmetric)
            z = clamp(math::RoundEvenOp::create(
                b, l,
                arith::SubFOp::create(b, l, c(-8.0),
                                      arith::DivFOp::create(b, l, lo, s))));
          Value q = clamp(arith::AddFOp::create(
              b, l,
              math::RoundEvenOp::create(b, l,
                                        arith::DivFOp::create(b, l, x, s)),
              z));
          Value y = arith::TruncFOp::create(
              b, l, f32,
              arith::MulFOp::create(b, l, s,
                                    arith::SubFOp::create(b, l, q, z)));
          linalg::YieldOp::create(b, l, y);
        });
    Value result = tensor::CollapseShapeOp::create(
        rewriter, loc, type, fq.getResult(0),
        SmallVector<ReassociationIndices>{{0, 1}, {2}});
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// tailor.nf4_dequantize: one linalg.generic over [G, g/2, 2, N] (blocks,
/// byte rows, nibble, columns) reading the byte [G, g/2, N] and the block's
/// absmax [G, N]; the nibble's index selects NF4's value from a constant
/// table; collapsed to [K, N].
struct NF4DequantizeLowering : OpConversionPattern<NF4DequantizeOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(NF4DequantizeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto codesType = cast<RankedTensorType>(adaptor.getCodes().getType());
    int64_t half = codesType.getDimSize(0), n = codesType.getDimSize(1);
    int64_t g = op.getBlockSize(), k = 2 * half, groups = k / g;
    Type f32 = rewriter.getF32Type();
    Type i8 = rewriter.getI8Type();
    Value codes = tensor::ExpandShapeOp::create(
        rewriter, loc, RankedTensorType::get({groups, g / 2, n}, i8),
        adaptor.getCodes(), SmallVector<ReassociationIndices>{{0, 1}, {2}});
    auto tableType = RankedTensorType::get({16}, f32);
    Value table = arith::ConstantOp::create(
        rewriter, loc,
        DenseElementsAttr::get(tableType, ArrayRef<float>(nf4::kValues)));
    Value out = emptyTensor(rewriter, loc,
                            {rewriter.getIndexAttr(groups),
                             rewriter.getIndexAttr(g / 2),
                             rewriter.getIndexAttr(2), rewriter.getIndexAttr(n)},
                            f32);
    MLIRContext *ctx = rewriter.getContext();
    AffineExpr d0, d1, d2, d3;
    bindDims(ctx, d0, d1, d2, d3);
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{out.getType()},
        ValueRange{codes, adaptor.getAbsmax()}, ValueRange{out},
        ArrayRef<AffineMap>{AffineMap::get(4, 0, {d0, d1, d3}, ctx),
                            AffineMap::get(4, 0, {d0, d3}, ctx),
                            AffineMap::get(4, 0, {d0, d1, d2, d3}, ctx)},
        SmallVector<utils::IteratorType>(4, utils::IteratorType::parallel),
        [&](OpBuilder &b, Location l, ValueRange a) {
          Type i32 = b.getI32Type();
          auto c = [&](int64_t v) {
            return arith::ConstantOp::create(b, l, b.getI32IntegerAttr(v))
                .getResult();
          };
          Value byte = arith::ExtUIOp::create(b, l, i32, a[0]);
          // Nibble 0 (the even row) is the high one: shift by 4 - 4 * i.
          Value nibble = arith::IndexCastOp::create(
              b, l, i32, linalg::IndexOp::create(b, l, 2));
          Value shift =
              arith::SubIOp::create(b, l, c(4),
                                    arith::MulIOp::create(b, l, nibble, c(4)));
          Value code = arith::AndIOp::create(
              b, l, arith::ShRUIOp::create(b, l, byte, shift), c(15));
          Value index =
              arith::IndexCastOp::create(b, l, b.getIndexType(), code);
          Value value = tensor::ExtractOp::create(b, l, table, index);
          linalg::YieldOp::create(
              b, l, arith::MulFOp::create(b, l, value, a[1]).getResult());
        });
    Value result = tensor::CollapseShapeOp::create(
        rewriter, loc, RankedTensorType::get({k, n}, f32), generic.getResult(0),
        SmallVector<ReassociationIndices>{{0, 1, 2}, {3}});
    rewriter.replaceOp(op, result);
    return success();
  }
};

} // namespace

void lowering::populateQuantizationPatterns(const TypeConverter &converter,
                                            RewritePatternSet &patterns) {
  patterns.add<DequantizeLinearLowering, QuantizeLinearLowering,
               DynamicQuantizeLinearLowering, MatMulIntegerLowering,
               QLinearMatMulLowering, FakeQuantLowering,
               NF4DequantizeLowering>(converter,
                                                         patterns.getContext());
}
