//===- LLM.cpp - rotary, attention and moe to linalg ----------------------===//
//
// The LLM ops that raising produces and that have no ONNX counterpart to
// borrow a lowering from:
//  - rotary: rotate_half(x) (or the interleaved pair swap) read with
//    tensor.extract inside a generic, then x*cos + rot*sin with numpy
//    broadcasting of cos/sin;
//  - attention: the past cache concatenated, scores as a contraction whose
//    key/value maps send query head h to head h floordiv G (grouped-query:
//    no repeat_kv copy), causal and explicit masks, softmax over the key
//    axis, then the contraction with the values. Up to `attentionBlock`
//    keys (static) the scores [B,H,S,T] are materialised; beyond, or with a
//    dynamic key count, an online softmax (flash attention) walks the keys
//    in blocks with a running max, sum and rescaled output, except for one
//    query row (a decode step; with a dynamic row count, an scf.if on
//    S == 1), whose [B,H,1,T] scores are materialised at any T;
//  - moe: router softmax, top-k (ties to the lower index) as a rank count,
//    renormalised weights; every expert runs densely on every token and the
//    weights zero the unselected ones (correct; compute grows by E/k).

#include "Utils.h"

#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::tailor;
using namespace mlir::tailor::lowering;

namespace {

SmallVector<utils::IteratorType> iterators(int64_t parallel,
                                           int64_t reduction = 0) {
  SmallVector<utils::IteratorType> it(parallel, utils::IteratorType::parallel);
  it.append(reduction, utils::IteratorType::reduction);
  return it;
}

struct RotaryLowering : OpConversionPattern<RotaryOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(RotaryOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    Location loc = op.getLoc();
    Value x = adaptor.getInput();
    auto xType = cast<RankedTensorType>(x.getType());
    int64_t rank = xType.getRank();
    if (rank < 1)
      return rewriter.notifyMatchFailure(op, "rank-0 input");
    bool interleaved = op.getInterleaved();
    // rot[..., d] = sign(d) * x[..., partner(d)]
    SmallVector<OpFoldResult> dims = getDims(rewriter, loc, x);
    Value init = emptyTensor(rewriter, loc, dims, xType.getElementType());
    AffineMap id = rewriter.getMultiDimIdentityMap(rank);
    Value lastSize = getDimValue(rewriter, loc, x, rank - 1);
    auto rot = linalg::GenericOp::create(
        rewriter, loc, TypeRange{init.getType()}, ValueRange{},
        ValueRange{init}, ArrayRef<AffineMap>{id}, iterators(rank),
        [&](OpBuilder &b, Location l, ValueRange) {
          SmallVector<Value> idx;
          for (int64_t i = 0; i < rank; ++i)
            idx.push_back(linalg::IndexOp::create(b, l, i));
          Value d = idx.back();
          Value one = arith::ConstantIndexOp::create(b, l, 1);
          Value two = arith::ConstantIndexOp::create(b, l, 2);
          Value partner, negate;
          if (interleaved) {
            Value odd = arith::CmpIOp::create(
                b, l, arith::CmpIPredicate::eq,
                arith::RemUIOp::create(b, l, d, two), one);
            partner = arith::SelectOp::create(
                b, l, odd, arith::SubIOp::create(b, l, d, one),
                arith::AddIOp::create(b, l, d, one));
            negate = arith::XOrIOp::create(
                b, l, odd, arith::ConstantIntOp::create(b, l, 1, 1));
          } else {
            Value half = arith::DivUIOp::create(b, l, lastSize, two);
            negate =
                arith::CmpIOp::create(b, l, arith::CmpIPredicate::ult, d, half);
            partner = arith::SelectOp::create(
                b, l, negate, arith::AddIOp::create(b, l, d, half),
                arith::SubIOp::create(b, l, d, half));
          }
          idx.back() = partner;
          Value v = tensor::ExtractOp::create(b, l, x, idx);
          Value r = arith::SelectOp::create(b, l, negate,
                                            arith::NegFOp::create(b, l, v), v);
          linalg::YieldOp::create(b, l, r);
        });
    Value y = buildElementwise(
        rewriter, loc, *type,
        ValueRange{x, adaptor.getCos(), rot.getResult(0), adaptor.getSin()},
        [](OpBuilder &b, Location l, ValueRange a) {
          Value xc = arith::MulFOp::create(b, l, a[0], a[1]);
          Value rs = arith::MulFOp::create(b, l, a[2], a[3]);
          return arith::AddFOp::create(b, l, xc, rs).getResult();
        });
    rewriter.replaceOp(op, y);
    return success();
  }
};

/// `past` and `now` concatenated along axis 2 ([B, H, P+T, D]).
Value concatSeq(OpBuilder &b, Location loc, Value past, Value now) {
  auto type = cast<RankedTensorType>(now.getType());
  SmallVector<OpFoldResult> pastDims = getDims(b, loc, past);
  SmallVector<OpFoldResult> nowDims = getDims(b, loc, now);
  SmallVector<OpFoldResult> dims = nowDims;
  Value p = getDimValue(b, loc, past, 2), t = getDimValue(b, loc, now, 2);
  dims[2] = arith::AddIOp::create(b, loc, p, t).getResult();
  Value out = emptyTensor(b, loc, dims, type.getElementType());
  SmallVector<OpFoldResult> zeros(4, b.getIndexAttr(0)),
      ones(4, b.getIndexAttr(1));
  out = tensor::InsertSliceOp::create(b, loc, past, out, zeros, pastDims, ones);
  SmallVector<OpFoldResult> at = zeros;
  at[2] = p;
  return tensor::InsertSliceOp::create(b, loc, now, out, at, nowDims, ones);
}

struct AttentionLowering : OpConversionPattern<AttentionOp> {
  AttentionLowering(const TypeConverter &converter, MLIRContext *ctx,
                    int64_t keyBlock)
      : OpConversionPattern(converter, ctx), keyBlock(keyBlock) {
    // splitDecode makes attentions that this pattern lowers in turn.
    setHasBoundedRewriteRecursion();
  }
  /// Keys per block of the online-softmax form; 0 = always materialise.
  int64_t keyBlock;

  LogicalResult
  matchAndRewrite(AttentionOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    Location loc = op.getLoc();
    Value q = adaptor.getQuery(), k = adaptor.getKey(), v = adaptor.getValue();
    auto qType = cast<RankedTensorType>(q.getType());
    auto kType = cast<RankedTensorType>(k.getType());
    if (qType.getRank() != 4 || kType.getRank() != 4)
      return rewriter.notifyMatchFailure(op, "query/key must be rank 4");
    int64_t hq = qType.getDimSize(1), hkv = kType.getDimSize(1);
    if (ShapedType::isDynamic(hq) || ShapedType::isDynamic(hkv) || hkv == 0 ||
        hq % hkv)
      return op.emitOpError("needs static head counts with Hq a multiple of "
                            "Hkv to be lowered (got ")
             << hq << " and " << hkv << ")";
    // Keys after the cache: T = P + T_new.
    int64_t keys = kType.getDimSize(2);
    if (Value past = adaptor.getPastKey()) {
      int64_t p = cast<RankedTensorType>(past.getType()).getDimSize(2);
      keys = ShapedType::isDynamic(p) || ShapedType::isDynamic(keys)
                 ? ShapedType::kDynamic
                 : p + keys;
    }
    bool materialize = op->hasAttr(kMaterialize);
    bool blockedKeys =
        keyBlock > 0 && (ShapedType::isDynamic(keys) || keys > keyBlock);
    if (blockedKeys && qType.isDynamicDim(2) && !materialize &&
        !op->hasAttr(kGeneralRows))
      return splitDecode(op, adaptor, rewriter);
    if (adaptor.getPastKey()) {
      k = concatSeq(rewriter, loc, adaptor.getPastKey(), k);
      v = concatSeq(rewriter, loc, adaptor.getPastValue(), v);
    }
    int64_t group = hq / hkv;
    Type elem = type->getElementType();
    MLIRContext *ctx = rewriter.getContext();
    Value b0 = getDimValue(rewriter, loc, q, 0);
    Value s = getDimValue(rewriter, loc, q, 2);
    Value t = getDimValue(rewriter, loc, k, 2);
    SmallVector<int64_t> scoreShape{
        qType.getDimSize(0), hq, qType.getDimSize(2),
        cast<RankedTensorType>(k.getType()).getDimSize(2)};
    auto scoreType = RankedTensorType::get(scoreShape, elem);
    SmallVector<OpFoldResult> scoreDims{b0, rewriter.getIndexAttr(hq), s, t};
    Value zero = scalarConstant(rewriter, loc, elem, 0.0);

    // Query heads grouped by their key/value head: [B, Hq, S, X] is
    // [B, Hkv, G*S, X] in the same memory (head h = kv * G + g), so both
    // products are batched contractions over (B, Hkv) that share one
    // key/value head per group without copying it.
    auto regroup = [&](Value x, bool toGroups) -> Value {
      if (group == 1)
        return x;
      auto xt = cast<RankedTensorType>(x.getType());
      int64_t sStatic = qType.getDimSize(2), last = xt.getDimSize(3);
      int64_t mStatic = ShapedType::isDynamic(sStatic) ? ShapedType::kDynamic
                                                       : group * sStatic;
      auto five = RankedTensorType::get(
          {xt.getDimSize(0), hkv, group, sStatic, last}, elem);
      SmallVector<OpFoldResult> xDims = getDims(rewriter, loc, x);
      OpFoldResult sDim = ShapedType::isDynamic(sStatic)
                              ? OpFoldResult(s)
                              : OpFoldResult(rewriter.getIndexAttr(sStatic));
      SmallVector<OpFoldResult> fiveDims{xDims[0], rewriter.getIndexAttr(hkv),
                                         rewriter.getIndexAttr(group), sDim,
                                         xDims[3]};
      SmallVector<ReassociationIndices> heads{{0}, {1, 2}, {3}, {4}},
          rows{{0}, {1}, {2, 3}, {4}};
      if (toGroups) {
        Value e = tensor::ExpandShapeOp::create(rewriter, loc, five, x, heads,
                                                fiveDims);
        return tensor::CollapseShapeOp::create(rewriter, loc, e, rows);
      }
      (void)mStatic;
      Value e =
          tensor::ExpandShapeOp::create(rewriter, loc, five, x, rows, fiveDims);
      return tensor::CollapseShapeOp::create(rewriter, loc, e, heads);
    };
    auto contraction = [&](Value lhs, Value rhs, ArrayRef<AffineMap> maps,
                           int64_t lastStatic, Value lastSize) {
      auto lt = cast<RankedTensorType>(lhs.getType());
      auto resultType = RankedTensorType::get(
          {lt.getDimSize(0), lt.getDimSize(1), lt.getDimSize(2), lastStatic},
          elem);
      SmallVector<OpFoldResult> dims{
          getDimValue(rewriter, loc, lhs, 0), rewriter.getIndexAttr(hkv),
          getDimValue(rewriter, loc, lhs, 2), lastSize};
      return linalg::GenericOp::create(
                 rewriter, loc, TypeRange{resultType}, ValueRange{lhs, rhs},
                 ValueRange{castTo(rewriter, loc,
                                   filledTensor(rewriter, loc, dims, zero),
                                   resultType)},
                 maps, iterators(4, 1),
                 [](OpBuilder &b, Location l, ValueRange a) {
                   Value m = arith::MulFOp::create(b, l, a[0], a[1]);
                   linalg::YieldOp::create(
                       b, l, arith::AddFOp::create(b, l, a[2], m).getResult());
                 })
          .getResult(0);
    };
    // scores[b,kv,m,j] = sum_d q[b,kv,m,d] * k[b,kv,j,d]
    AffineExpr bd, h, i, j, d;
    bindDims(ctx, bd, h, i, j, d);
    auto map = [&](ArrayRef<AffineExpr> e) {
      return AffineMap::get(5, 0, e, ctx);
    };
    // One query row (a decode step) has [B, H, 1, T] scores: small enough
    // to materialise at any T, and faster than the blocked loop.
    if (blockedKeys && !materialize && qType.getDimSize(2) != 1) {
      Value out = blocked(rewriter, op, adaptor, *type, q, k, v, group, hkv,
                          regroup, contraction);
      rewriter.replaceOp(op, out);
      return success();
    }
    Value scores = regroup(contraction(regroup(q, true), k,
                                       {map({bd, h, i, d}), map({bd, h, j, d}),
                                        map({bd, h, i, j})},
                                       scoreShape[3], t),
                           false);
    scores = castTo(rewriter, loc, scores, scoreType);
    // Scale, causal mask (bottom-right aligned), explicit mask.
    double scale = op.getEffectiveScale();
    bool causal = op.getCausal();
    Value negInf =
        scalarConstant(rewriter, loc, elem, -std::numeric_limits<double>::infinity());
    Value offset = arith::SubIOp::create(rewriter, loc, t, s);
    AffineMap id4 = rewriter.getMultiDimIdentityMap(4);
    scores = linalg::GenericOp::create(
                 rewriter, loc, TypeRange{scoreType}, ValueRange{},
                 ValueRange{scores}, ArrayRef<AffineMap>{id4}, iterators(4),
                 [&](OpBuilder &b, Location l, ValueRange a) {
                   Value r = arith::MulFOp::create(b, l, a[0],
                                                   scalarConstant(b, l, elem, scale));
                   if (causal) {
                     Value row = linalg::IndexOp::create(b, l, 2);
                     Value col = linalg::IndexOp::create(b, l, 3);
                     Value limit = arith::AddIOp::create(b, l, row, offset);
                     Value hidden = arith::CmpIOp::create(
                         b, l, arith::CmpIPredicate::sgt, col, limit);
                     r = arith::SelectOp::create(b, l, hidden, negInf, r);
                   }
                   linalg::YieldOp::create(b, l, r);
                 })
                 .getResult(0);
    if (Value mask = adaptor.getMask()) {
      bool boolean = isBool(elementTypeOf(op.getMask().getType()));
      scores = buildElementwise(
          rewriter, loc, scoreType, ValueRange{scores, mask},
          [&](OpBuilder &b, Location l, ValueRange a) -> Value {
            if (boolean)
              return arith::SelectOp::create(b, l, a[1], a[0], negInf);
            return arith::AddFOp::create(b, l, a[0], a[1]);
          },
          scoreDims);
    }
    Value probs = buildSoftmax(rewriter, loc, scores, 3, scoreType);

    // out[b,kv,m,e] = sum_j p[b,kv,m,j] * v[b,kv,j,e]
    AffineExpr e;
    bindDims(ctx, bd, h, i, e, j);
    auto vType = cast<RankedTensorType>(v.getType());
    Value out = regroup(contraction(regroup(probs, true), v,
                                    {map({bd, h, i, j}), map({bd, h, j, e}),
                                     map({bd, h, i, e})},
                                    vType.getDimSize(3),
                                    getDimValue(rewriter, loc, v, 3)),
                        false);
    out = castTo(rewriter, loc, out, *type);
    rewriter.replaceOp(op, out);
    return success();
  }

  /// Marks the copies splitDecode makes: the one for several query rows
  /// (blocked keys) and the one for a single row (materialised scores).
  static constexpr const char *kGeneralRows = "tailor.any_rows";
  static constexpr const char *kMaterialize = "tailor.one_row";

  /// With a dynamic query count S over more keys than a block (or a
  /// dynamic count), `scf.if S == 1` picks between two copies: a decode
  /// step materialises its [B, H, 1, T] scores (small at any T; measured
  /// faster than the blocked loop), other counts take the blocked form.
  LogicalResult splitDecode(AttentionOp op, OpAdaptor adaptor,
                            ConversionPatternRewriter &rewriter) const {
    Location loc = op.getLoc();
    Value s = tensor::DimOp::create(rewriter, loc, adaptor.getQuery(), 2);
    Value one = arith::ConstantIndexOp::create(rewriter, loc, 1);
    Value decode =
        arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::eq, s, one);
    auto ifOp = scf::IfOp::create(rewriter, loc, TypeRange{op.getType()},
                                  decode, /*withElseRegion=*/true);
    for (auto [region, mark] :
         {std::pair{&ifOp.getThenRegion(), kMaterialize},
          std::pair{&ifOp.getElseRegion(), kGeneralRows}}) {
      OpBuilder::InsertionGuard guard(rewriter);
      rewriter.setInsertionPointToStart(&region->front());
      auto copy = AttentionOp::create(
          rewriter, loc, op.getType(), adaptor.getQuery(), adaptor.getKey(),
          adaptor.getValue(), adaptor.getMask(), adaptor.getPastKey(),
          adaptor.getPastValue(), op.getScaleAttr(), op.getCausalAttr());
      copy->setAttr(mark, rewriter.getUnitAttr());
      scf::YieldOp::create(rewriter, loc, copy.getResult());
    }
    rewriter.replaceOp(op, ifOp.getResults());
    return success();
  }

  /// Online softmax (flash attention): the keys in blocks of `keyBlock`,
  /// a running row max `m`, row sum `l` and output `acc` rescaled by
  /// exp(m_old - m_new) per block, so the scores live one [.., S, block]
  /// tile at a time instead of [B, H, S, T].
  template <typename Regroup, typename Contraction>
  Value blocked(ConversionPatternRewriter &rewriter, AttentionOp op,
                OpAdaptor adaptor, RankedTensorType outType, Value q, Value k,
                Value v, int64_t group, int64_t hkv, Regroup &regroup,
                Contraction &contraction) const {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Type elem = outType.getElementType();
    auto qType = cast<RankedTensorType>(q.getType());
    auto vType = cast<RankedTensorType>(v.getType());
    int64_t hq = qType.getDimSize(1);
    Value b0 = getDimValue(rewriter, loc, q, 0);
    Value s = getDimValue(rewriter, loc, q, 2);
    Value t = getDimValue(rewriter, loc, k, 2);
    Value dv = getDimValue(rewriter, loc, v, 3);
    OpFoldResult hqDim = rewriter.getIndexAttr(hq);
    // State: acc [B, Hq, S, Dv], max and sum [B, Hq, S].
    auto accType = RankedTensorType::get(
        {qType.getDimSize(0), hq, qType.getDimSize(2), vType.getDimSize(3)},
        elem);
    auto rowType = RankedTensorType::get(
        {qType.getDimSize(0), hq, qType.getDimSize(2)}, elem);
    SmallVector<OpFoldResult> accDims{b0, hqDim, s, dv}, rowDims{b0, hqDim, s};
    Value zero = scalarConstant(rewriter, loc, elem, 0.0);
    Value negInf = scalarConstant(rewriter, loc, elem,
                                  -std::numeric_limits<double>::infinity());
    Value acc0 = castTo(rewriter, loc, filledTensor(rewriter, loc, accDims, zero),
                        accType);
    Value m0 = castTo(rewriter, loc, filledTensor(rewriter, loc, rowDims, negInf),
                      rowType);
    Value l0 = castTo(rewriter, loc, filledTensor(rewriter, loc, rowDims, zero),
                      rowType);
    Value qg = regroup(q, true);
    Value offset = arith::SubIOp::create(rewriter, loc, t, s);
    double scale = op.getEffectiveScale();
    bool causal = op.getCausal();
    Value mask = adaptor.getMask();
    bool boolean =
        mask && isBool(elementTypeOf(op.getMask().getType()));

    AffineExpr e0, e1, e2, e3;
    bindDims(ctx, e0, e1, e2, e3);
    AffineMap id4 = AffineMap::get(4, 0, {e0, e1, e2, e3}, ctx);
    AffineMap row4 = AffineMap::get(4, 0, {e0, e1, e2}, ctx);
    AffineMap id3 = AffineMap::get(3, 0, {e0, e1, e2}, ctx);
    auto generic = [&](OpBuilder &b, Location l, Value init, ValueRange ins,
                       ArrayRef<AffineMap> maps, unsigned reductions,
                       function_ref<Value(OpBuilder &, Location, ValueRange)>
                           body) {
      auto rank = cast<RankedTensorType>(init.getType()).getRank();
      return linalg::GenericOp::create(
                 b, l, TypeRange{init.getType()}, ins, ValueRange{init}, maps,
                 iterators(rank, reductions),
                 [&](OpBuilder &nb, Location nl, ValueRange a) {
                   linalg::YieldOp::create(nb, nl, body(nb, nl, a));
                 })
          .getResult(0);
    };

    Value step = indexConst(rewriter, loc, keyBlock);
    auto loop = scf::ForOp::create(
        rewriter, loc, indexConst(rewriter, loc, 0), t, step,
        ValueRange{acc0, m0, l0},
        [&](OpBuilder &b, Location l, Value j0, ValueRange state) {
          // regroup/contraction build with the rewriter: into this body too.
          OpBuilder::InsertionGuard guard(rewriter);
          rewriter.setInsertionPointToEnd(b.getInsertionBlock());
          Value acc = state[0], m = state[1], sum = state[2];
          Value left = arith::SubIOp::create(b, l, t, j0);
          Value bc = arith::MinSIOp::create(b, l, left, step);
          auto slice = [&](Value x) {
            auto xt = cast<RankedTensorType>(x.getType());
            SmallVector<OpFoldResult> offsets(4, b.getIndexAttr(0)),
                sizes = getDims(b, l, x), strides(4, b.getIndexAttr(1));
            offsets[2] = j0;
            sizes[2] = bc;
            auto st = RankedTensorType::get({xt.getDimSize(0), hkv,
                                             ShapedType::kDynamic,
                                             xt.getDimSize(3)},
                                            elem);
            return tensor::ExtractSliceOp::create(b, l, st, x, offsets, sizes,
                                                  strides)
                .getResult();
          };
          Value kb = slice(k), vb = slice(v);
          // Scores of this block, [B, Hq, S, bc]: scaled, masked.
          AffineExpr bd, h, i, jj, d;
          bindDims(ctx, bd, h, i, jj, d);
          auto map5 = [&](ArrayRef<AffineExpr> e) {
            return AffineMap::get(5, 0, e, ctx);
          };
          // The block's keys transposed to [B, Hkv, D, bc] first: the
          // product then reads key rows along its output columns (as the
          // values in P.V) instead of walking a column per output.
          Value sg = contraction(qg, moveDim(b, l, kb, 2, 3),
                                 {map5({bd, h, i, d}), map5({bd, h, d, jj}),
                                  map5({bd, h, i, jj})},
                                 ShapedType::kDynamic, bc);
          Value scores = regroup(sg, false);
          auto blockType = RankedTensorType::get(
              {qType.getDimSize(0), hq, qType.getDimSize(2),
               ShapedType::kDynamic},
              elem);
          scores = castTo(b, l, scores, blockType);
          scores = generic(
              b, l, scores, ValueRange{}, {id4}, 0,
              [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                Value r = arith::MulFOp::create(
                    nb, nl, a[0], scalarConstant(nb, nl, elem, scale));
                if (!causal)
                  return r;
                Value row = linalg::IndexOp::create(nb, nl, 2);
                Value col = arith::AddIOp::create(
                    nb, nl, linalg::IndexOp::create(nb, nl, 3), j0);
                Value limit = arith::AddIOp::create(nb, nl, row, offset);
                Value hidden = arith::CmpIOp::create(
                    nb, nl, arith::CmpIPredicate::sgt, col, limit);
                return arith::SelectOp::create(nb, nl, hidden, negInf, r);
              });
          if (mask) {
            // The mask's key axis: this block's columns, unless it
            // broadcasts (size 1).
            auto mt = cast<RankedTensorType>(mask.getType());
            Value maskBlock = mask;
            int64_t last = mt.getRank() - 1;
            if (last >= 0 && mt.getDimSize(last) != 1) {
              Value size = getDimValue(b, l, mask, last);
              Value one = indexConst(b, l, 1);
              Value isOne = arith::CmpIOp::create(
                  b, l, arith::CmpIPredicate::eq, size, one);
              SmallVector<OpFoldResult> offsets(mt.getRank(),
                                                b.getIndexAttr(0)),
                  sizes = getDims(b, l, mask),
                  strides(mt.getRank(), b.getIndexAttr(1));
              offsets[last] = arith::SelectOp::create(
                                  b, l, isOne, indexConst(b, l, 0), j0)
                                  .getResult();
              sizes[last] =
                  arith::SelectOp::create(b, l, isOne, one, bc).getResult();
              SmallVector<int64_t> shape(mt.getShape());
              shape[last] = ShapedType::kDynamic;
              maskBlock = tensor::ExtractSliceOp::create(
                  b, l, RankedTensorType::get(shape, mt.getElementType()),
                  mask, offsets, sizes, strides);
            }
            SmallVector<OpFoldResult> blockDims{b0, hqDim, s, bc};
            scores = castTo(
                b, l,
                buildElementwise(
                    b, l, blockType, ValueRange{scores, maskBlock},
                    [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                      if (boolean)
                        return arith::SelectOp::create(nb, nl, a[1], a[0],
                                                       negInf);
                      return arith::AddFOp::create(nb, nl, a[0], a[1]);
                    },
                    blockDims),
                blockType);
          }
          // m_new = max(m, rowmax(scores)); a row with no finite score yet
          // subtracts 0 instead (exp(-inf - -inf) would be NaN).
          Value mNew = generic(
              b, l, m, ValueRange{scores}, {id4, row4}, 1,
              [](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                return arith::MaximumFOp::create(nb, nl, a[1], a[0]);
              });
          auto safe = [&](OpBuilder &nb, Location nl, Value x) -> Value {
            Value isInf = arith::CmpFOp::create(
                nb, nl, arith::CmpFPredicate::OEQ, x, negInf);
            return arith::SelectOp::create(nb, nl, isInf,
                                           scalarConstant(nb, nl, elem, 0.0), x);
          };
          // p = exp(scores - m_new)
          Value p = generic(
              b, l, scores, ValueRange{mNew}, {row4, id4}, 0,
              [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                Value x = arith::SubFOp::create(nb, nl, a[1], safe(nb, nl, a[0]));
                return math::ExpOp::create(nb, nl, x);
              });
          // corr = exp(m - m_new)
          Value corr = generic(
              b, l, m, ValueRange{mNew}, {id3, id3}, 0,
              [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                Value x = arith::SubFOp::create(nb, nl, a[1], safe(nb, nl, a[0]));
                return math::ExpOp::create(nb, nl, x);
              });
          // l_new = l * corr + rowsum(p)
          Value scaled = generic(
              b, l, sum, ValueRange{corr}, {id3, id3}, 0,
              [](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                return arith::MulFOp::create(nb, nl, a[1], a[0]);
              });
          Value lNew = generic(
              b, l, scaled, ValueRange{p}, {id4, row4}, 1,
              [](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                return arith::AddFOp::create(nb, nl, a[1], a[0]);
              });
          // acc_new = acc * corr + p . v_block
          bindDims(ctx, bd, h, i, d, jj);
          Value pv = regroup(contraction(regroup(p, true), vb,
                                         {map5({bd, h, i, jj}),
                                          map5({bd, h, jj, d}),
                                          map5({bd, h, i, d})},
                                         vType.getDimSize(3), dv),
                             false);
          pv = castTo(b, l, pv, accType);
          Value accNew = generic(
              b, l, acc, ValueRange{corr, pv}, {row4, id4, id4}, 0,
              [](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                Value x = arith::MulFOp::create(nb, nl, a[2], a[0]);
                return arith::AddFOp::create(nb, nl, x, a[1]);
              });
          scf::YieldOp::create(b, l, ValueRange{accNew, mNew, lNew});
        });
    Value acc = loop.getResult(0), sum = loop.getResult(2);
    // out = acc / l (a row that saw no finite score: 0 / 0 = NaN, as the
    // exported softmax gives).
    Value out = generic(
        rewriter, loc, acc, ValueRange{sum}, {row4, id4}, 0,
        [](OpBuilder &nb, Location nl, ValueRange a) -> Value {
          return arith::DivFOp::create(nb, nl, a[1], a[0]);
        });
    return castTo(rewriter, loc, out, outType);
  }
};

struct MoELowering : OpConversionPattern<MoEOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(MoEOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Value x = adaptor.getInput();
    auto xType = cast<RankedTensorType>(x.getType());
    auto gType = cast<RankedTensorType>(adaptor.getWGate().getType());
    int64_t rank = xType.getRank();
    int64_t dModel = xType.getDimSize(rank - 1), experts = gType.getDimSize(0),
            ffn = gType.getDimSize(2);
    if (rank < 1 || ShapedType::isDynamic(dModel) ||
        ShapedType::isDynamic(experts) || ShapedType::isDynamic(ffn))
      return op.emitOpError("needs static model, expert and FFN sizes to be "
                            "lowered");
    int64_t topK = op.getTopK();
    if (topK > experts)
      return op.emitOpError("top_k ")
             << topK << " exceeds the " << experts << " experts";
    Type elem = type->getElementType();
    // Tokens as rows: [N, D].
    Value rows = x;
    if (rank == 1) {
      rows = tensor::ExpandShapeOp::create(
          rewriter, loc, RankedTensorType::get({1, dModel}, elem), x,
          SmallVector<ReassociationIndices>{{0, 1}});
    } else if (rank > 2) {
      SmallVector<ReassociationIndices> reassoc(1);
      for (int64_t i = 0; i + 1 < rank; ++i)
        reassoc[0].push_back(i);
      reassoc.push_back({rank - 1});
      rows = tensor::CollapseShapeOp::create(rewriter, loc, x, reassoc);
    }
    Value n = getDimValue(rewriter, loc, rows, 0);
    int64_t nStatic = cast<RankedTensorType>(rows.getType()).getDimSize(0);
    Value zero = scalarConstant(rewriter, loc, elem, 0.0);
    AffineExpr a0, a1, a2, a3;
    auto map = [&](unsigned dims, ArrayRef<AffineExpr> e) {
      return AffineMap::get(dims, 0, e, ctx);
    };
    auto mulAdd = [](OpBuilder &b, Location l, ValueRange a) {
      Value m = arith::MulFOp::create(b, l, a[0], a[1]);
      linalg::YieldOp::create(b, l,
                              arith::AddFOp::create(b, l, a[2], m).getResult());
    };
    // Router logits [N, E] and probabilities.
    auto neType = RankedTensorType::get({nStatic, experts}, elem);
    SmallVector<OpFoldResult> neDims{n, rewriter.getIndexAttr(experts)};
    bindDims(ctx, a0, a1, a2);
    Value logits = linalg::GenericOp::create(
                       rewriter, loc, TypeRange{neType},
                       ValueRange{rows, adaptor.getRouter()},
                       ValueRange{castTo(
                           rewriter, loc,
                           filledTensor(rewriter, loc, neDims, zero), neType)},
                       ArrayRef<AffineMap>{map(3, {a0, a2}), map(3, {a2, a1}),
                                           map(3, {a0, a1})},
                       iterators(2, 1), mulAdd)
                       .getResult(0);
    Value probs = buildSoftmax(rewriter, loc, logits, 1, neType);
    // rank[n,e] = #{e' : p[e'] > p[e] or (p[e'] == p[e] and e' < e)};
    // the weight is p where rank < k, else 0.
    auto i64 = rewriter.getI64Type();
    auto rankType = RankedTensorType::get({nStatic, experts}, i64);
    Value rankInit =
        filledTensor(rewriter, loc, neDims,
                     arith::ConstantIntOp::create(rewriter, loc, 0, 64));
    bindDims(ctx, a0, a1, a2);
    Value ranks =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{rankType}, ValueRange{probs, probs},
            ValueRange{castTo(rewriter, loc, rankInit, rankType)},
            ArrayRef<AffineMap>{map(3, {a0, a1}), map(3, {a0, a2}),
                                map(3, {a0, a1})},
            iterators(2, 1),
            [](OpBuilder &b, Location l, ValueRange a) {
              Value e = linalg::IndexOp::create(b, l, 1);
              Value other = linalg::IndexOp::create(b, l, 2);
              Value gt = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGT,
                                               a[1], a[0]);
              Value eq = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OEQ,
                                               a[1], a[0]);
              Value before = arith::CmpIOp::create(
                  b, l, arith::CmpIPredicate::ult, other, e);
              Value ahead = arith::OrIOp::create(
                  b, l, gt, arith::AndIOp::create(b, l, eq, before));
              Value inc = arith::ExtUIOp::create(b, l, b.getI64Type(), ahead);
              linalg::YieldOp::create(
                  b, l, arith::AddIOp::create(b, l, a[2], inc).getResult());
            })
            .getResult(0);
    Value kConst = arith::ConstantIntOp::create(rewriter, loc, topK, 64);
    Value weights = buildElementwise(
        rewriter, loc, neType, ValueRange{probs, ranks},
        [&](OpBuilder &b, Location l, ValueRange a) -> Value {
          Value keep = arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt,
                                             a[1], kConst);
          return arith::SelectOp::create(b, l, keep, a[0], zero);
        },
        neDims);
    if (op.getNormalize()) {
      auto sumType = RankedTensorType::get({nStatic, 1}, elem);
      Value sum = buildReduction(
          rewriter, loc, weights, {1}, true, zero, sumType,
          [](OpBuilder &b, Location l, Value v, Value acc) {
            return arith::AddFOp::create(b, l, acc, v).getResult();
          });
      weights = buildElementwise(
          rewriter, loc, neType, ValueRange{weights, sum},
          [](OpBuilder &b, Location l, ValueRange a) {
            return arith::DivFOp::create(b, l, a[0], a[1]).getResult();
          },
          neDims);
    }
    // gate/up [N, E, F] = x · W[e]; h = silu(gate) * up * weight[n, e].
    auto nefType = RankedTensorType::get({nStatic, experts, ffn}, elem);
    SmallVector<OpFoldResult> nefDims{n, rewriter.getIndexAttr(experts),
                                      rewriter.getIndexAttr(ffn)};
    bindDims(ctx, a0, a1, a2, a3); // n, e, f, d
    auto project = [&](Value w) {
      return linalg::GenericOp::create(
                 rewriter, loc, TypeRange{nefType}, ValueRange{rows, w},
                 ValueRange{castTo(rewriter, loc,
                                   filledTensor(rewriter, loc, nefDims, zero),
                                   nefType)},
                 ArrayRef<AffineMap>{map(4, {a0, a3}), map(4, {a1, a3, a2}),
                                     map(4, {a0, a1, a2})},
                 iterators(3, 1), mulAdd)
          .getResult(0);
    };
    Value gate = project(adaptor.getWGate()), up = project(adaptor.getWUp());
    bindDims(ctx, a0, a1, a2);
    AffineMap id3 = rewriter.getMultiDimIdentityMap(3);
    Value hidden =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{nefType}, ValueRange{gate, up, weights},
            ValueRange{castTo(rewriter, loc,
                              emptyTensor(rewriter, loc, nefDims, elem),
                              nefType)},
            ArrayRef<AffineMap>{id3, id3, map(3, {a0, a1}), id3}, iterators(3),
            [&](OpBuilder &b, Location l, ValueRange a) {
              Value one = scalarConstant(b, l, elem, 1.0);
              Value sig = arith::DivFOp::create(
                  b, l, one,
                  arith::AddFOp::create(
                      b, l, one,
                      math::ExpOp::create(b, l,
                                          arith::NegFOp::create(b, l, a[0]))));
              Value silu = arith::MulFOp::create(b, l, a[0], sig);
              Value h = arith::MulFOp::create(b, l, silu, a[1]);
              linalg::YieldOp::create(
                  b, l, arith::MulFOp::create(b, l, h, a[2]).getResult());
            })
            .getResult(0);
    // y[n, d] = sum_{e,f} hidden[n, e, f] * w_down[e, f, d]
    auto ndType = RankedTensorType::get({nStatic, dModel}, elem);
    SmallVector<OpFoldResult> ndDims{n, rewriter.getIndexAttr(dModel)};
    bindDims(ctx, a0, a1, a2, a3); // n, d, e, f
    Value y = linalg::GenericOp::create(
                  rewriter, loc, TypeRange{ndType},
                  ValueRange{hidden, adaptor.getWDown()},
                  ValueRange{castTo(rewriter, loc,
                                    filledTensor(rewriter, loc, ndDims, zero),
                                    ndType)},
                  ArrayRef<AffineMap>{map(4, {a0, a2, a3}),
                                      map(4, {a2, a3, a1}), map(4, {a0, a1})},
                  iterators(2, 2), mulAdd)
                  .getResult(0);
    if (rank == 2) {
      rewriter.replaceOp(op, castTo(rewriter, loc, y, *type));
      return success();
    }
    SmallVector<ReassociationIndices> reassoc(1);
    for (int64_t i = 0; i + 1 < rank; ++i)
      reassoc[0].push_back(i);
    reassoc.push_back({rank - 1});
    if (rank == 1)
      reassoc = {{0, 1}};
    SmallVector<OpFoldResult> outDims = getDims(rewriter, loc, x);
    Value out = rank == 1 ? tensor::CollapseShapeOp::create(rewriter, loc,
                                                            *type, y, reassoc)
                                .getResult()
                          : tensor::ExpandShapeOp::create(rewriter, loc, *type,
                                                          y, reassoc, outDims)
                                .getResult();
    rewriter.replaceOp(op, out);
    return success();
  }
};

} // namespace

void lowering::populateLLMPatterns(const TypeConverter &converter,
                                   RewritePatternSet &patterns,
                                   int64_t attentionBlock) {
  patterns.add<RotaryLowering, MoELowering>(converter, patterns.getContext());
  patterns.add<AttentionLowering>(converter, patterns.getContext(),
                                  attentionBlock);
}
