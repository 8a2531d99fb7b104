//===- RaiseRotary.cpp - Rotary position embedding subgraphs --------------===//

#include "RaiseUtils.h"

using namespace mlir;
using namespace mlir::tailor;
using namespace mlir::tailor::raise;

namespace {
/// A Slice of x along its last axis with unit step: [start, end).
bool isLastAxisSlice(Value v, Value &x, int64_t &start, int64_t &end) {
  auto slice = v.getDefiningOp<OnnxSliceOp>();
  if (!slice)
    return false;
  auto starts = ints(slice.getStarts()), ends = ints(slice.getEnds());
  if (!starts || !ends || starts->size() != 1 || ends->size() != 1)
    return false;
  int64_t rank = rankOf(slice.getData());
  if (slice.getAxes()) {
    auto axes = ints(slice.getAxes());
    if (!axes || axes->size() != 1 || !isLastAxis((*axes)[0], rank))
      return false;
  } else if (rank != 1) {
    return false;
  }
  if (slice.getSteps()) {
    auto steps = ints(slice.getSteps());
    if (!steps || steps->size() != 1 || (*steps)[0] != 1)
      return false;
  }
  x = slice.getData();
  start = (*starts)[0];
  end = (*ends)[0];
  return true;
}

/// rotate_half(x) = concat(-x[..., D/2:], x[..., :D/2]) on the last axis.
bool isRotateHalf(Value v, Value &x) {
  auto concat = v.getDefiningOp<OnnxConcatOp>();
  if (!concat || concat.getInputs().size() != 2)
    return false;
  auto neg = concat.getInputs()[0].getDefiningOp<OnnxNegOp>();
  if (!neg)
    return false;
  Value hi, lo;
  int64_t hiStart, hiEnd, loStart, loEnd;
  if (!isLastAxisSlice(neg.getX(), hi, hiStart, hiEnd) ||
      !isLastAxisSlice(concat.getInputs()[1], lo, loStart, loEnd) || hi != lo)
    return false;
  auto type = dyn_cast<RankedTensorType>(hi.getType());
  if (!type || !isLastAxis(concat.getAxis(), type.getRank()) ||
      ShapedType::isDynamic(type.getShape().back()))
    return false;
  int64_t d = type.getShape().back();
  if (d % 2 != 0 || hiStart != d / 2 || hiEnd < d || loStart != 0 ||
      loEnd != d / 2)
    return false;
  x = hi;
  return true;
}

/// x * cos + rotate_half(x) * sin -> rotary(x, cos, sin).
struct RotaryHalfSubgraph : OpRewritePattern<OnnxAddOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(OnnxAddOp op,
                                PatternRewriter &rewriter) const override {
    Value x, cos, sin;
    bool matched = eitherOrder(op.getA(), op.getB(), [&](Value a, Value b) {
      auto mulCos = a.getDefiningOp<OnnxMulOp>();
      auto mulSin = b.getDefiningOp<OnnxMulOp>();
      if (!mulCos || !mulSin)
        return false;
      return eitherOrder(mulSin.getA(), mulSin.getB(), [&](Value rot, Value s) {
        Value rx;
        if (!isRotateHalf(rot, rx))
          return false;
        return eitherOrder(mulCos.getA(), mulCos.getB(), [&](Value cx, Value c) {
          if (cx != rx)
            return false;
          x = cx;
          cos = c;
          sin = s;
          return true;
        });
      });
    });
    if (!matched || !isFloatTensor(cos) || !isFloatTensor(sin))
      return rewriter.notifyMatchFailure(op, "not x*cos + rotate_half(x)*sin");
    // cos/sin must broadcast to x without growing it.
    int64_t rank = rankOf(x);
    if (rankOf(cos) > rank || rankOf(sin) > rank)
      return rewriter.notifyMatchFailure(op, "cos/sin broadcast beyond x");
    Type resultType = refineTensorType(op.getType(), x.getType());
    if (!resultType)
      return rewriter.notifyMatchFailure(op, "result type differs from x");
    auto rotary = RotaryOp::create(rewriter, op.getLoc(), op.getType(), x, cos,
                                   sin, rewriter.getBoolAttr(false));
    rewriter.replaceOp(op, rotary.getResult());
    return success();
  }
};
} // namespace

void mlir::tailor::raise::populateRaiseRotaryPatterns(
    RewritePatternSet &patterns) {
  patterns.add<RotaryHalfSubgraph>(patterns.getContext());
}
