//===- RaiseAttention.cpp - Scaled dot-product attention subgraphs --------===//
//
// softmax(mask(scale * Q·Kᵀ)) · V, with the key/value heads expanded for
// grouped-query attention the way Hugging Face's repeat_kv does it, becomes
// one tailor.attention on the unexpanded key/value heads.
//
//===----------------------------------------------------------------------===//

#include "RaiseUtils.h"

using namespace mlir;
using namespace mlir::tailor;
using namespace mlir::tailor::raise;

namespace {
/// Looks through repeat_kv: Reshape(Expand(Unsqueeze(kv, [2])), [B, H, T, D])
/// with H a multiple of kv's heads. Returns kv, or `v` itself.
Value peelRepeatKV(Value v) {
  auto reshape = v.getDefiningOp<OnnxReshapeOp>();
  if (!reshape)
    return v;
  auto expand = reshape.getData().getDefiningOp<OnnxExpandOp>();
  if (!expand)
    return v;
  auto unsqueeze = expand.getInput().getDefiningOp<OnnxUnsqueezeOp>();
  if (!unsqueeze)
    return v;
  auto axes = ints(unsqueeze.getAxes());
  Value kv = unsqueeze.getData();
  auto kvType = dyn_cast<RankedTensorType>(kv.getType());
  auto outType = dyn_cast<RankedTensorType>(reshape.getType());
  if (!axes || axes->size() != 1 || (*axes)[0] != 2 || !kvType ||
      kvType.getRank() != 4 || rankOf(expand.getResult()) != 5)
    return v;
  // The merged head count must be a static multiple of kv's, and the head
  // size must be unchanged: then the reshape can only have merged
  // [Hkv, repeat] into H.
  int64_t hkv = kvType.getDimSize(1);
  if (!outType || outType.getRank() != 4 || ShapedType::isDynamic(hkv) ||
      ShapedType::isDynamic(outType.getDimSize(1)) ||
      outType.getDimSize(1) % hkv != 0 ||
      ShapedType::isDynamic(kvType.getDimSize(3)) ||
      outType.getDimSize(3) != kvType.getDimSize(3))
    return v;
  // Expand may only repeat along the new axis: its target shape, where
  // constant, keeps kv's static sizes.
  if (auto target = ints(expand.getShape())) {
    if (target->size() != 5)
      return v;
    for (auto [i, d] : llvm::enumerate(kvType.getShape())) {
      int64_t t = (*target)[i < 2 ? i : i + 1];
      if (!ShapedType::isDynamic(d) && t != 1 && t != d)
        return v;
    }
  }
  return kv;
}

struct AttentionSubgraph : OpRewritePattern<OnnxMatMulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(OnnxMatMulOp op,
                                PatternRewriter &rewriter) const override {
    auto softmax = op.getA().getDefiningOp<OnnxSoftmaxOp>();
    if (!softmax || !isLastAxis(softmax.getAxis(), rankOf(softmax.getInput())))
      return rewriter.notifyMatchFailure(op, "not softmax(scores) · V");
    Value scores = softmax.getInput();

    // Masking: Where(cond, -inf, s) keeps !cond; Where(cond, s, -inf) keeps
    // cond; Add(s, m) adds a float mask.
    Value mask;
    bool negateMask = false;
    if (auto where = scores.getDefiningOp<OnnxWhereOp>()) {
      auto isNegInf = [](Value v) {
        std::optional<double> s = scalarConstant(v);
        return s && std::isinf(*s) && *s < 0;
      };
      if (isNegInf(where.getX())) {
        mask = where.getCondition();
        negateMask = true;
        scores = where.getY();
      } else if (isNegInf(where.getY())) {
        mask = where.getCondition();
        scores = where.getX();
      } else {
        return rewriter.notifyMatchFailure(op, "Where does not mask with -inf");
      }
    } else if (auto add = scores.getDefiningOp<OnnxAddOp>()) {
      bool matched = eitherOrder(add.getA(), add.getB(), [&](Value s, Value m) {
        auto mm = s.getDefiningOp<OnnxMatMulOp>();
        if (!mm && !s.getDefiningOp<OnnxDivOp>() && !s.getDefiningOp<OnnxMulOp>())
          return false;
        scores = s;
        mask = m;
        return true;
      });
      if (!matched)
        return rewriter.notifyMatchFailure(op, "unrecognised score addition");
    }

    // Scaling: Div(qk, c), Mul(qk, c) or none.
    double scale = 1.0;
    Value qk = scores;
    if (auto div = scores.getDefiningOp<OnnxDivOp>()) {
      std::optional<double> c = scalarConstant(div.getB());
      if (!c || *c == 0)
        return rewriter.notifyMatchFailure(op, "scores divided by a non-constant");
      scale = 1.0 / *c;
      qk = div.getA();
    } else if (auto mul = scores.getDefiningOp<OnnxMulOp>()) {
      bool matched = eitherOrder(mul.getA(), mul.getB(), [&](Value a, Value b) {
        std::optional<double> c = scalarConstant(b);
        if (!c)
          return false;
        scale = *c;
        qk = a;
        return true;
      });
      if (!matched)
        return rewriter.notifyMatchFailure(op, "scores scaled by a non-constant");
    }
    auto matmul = qk.getDefiningOp<OnnxMatMulOp>();
    if (!matmul)
      return rewriter.notifyMatchFailure(op, "scores are not Q · Kᵀ");
    // Kᵀ is Transpose(K, [0, 1, 3, 2]), or, with the head split folded in,
    // Transpose(K', [0, 2, 3, 1]) of K' = [B, T, H, D].
    auto transpose = matmul.getB().getDefiningOp<OnnxTransposeOp>();
    if (!transpose || !transpose.getPerm())
      return rewriter.notifyMatchFailure(op, "K is not transposed");
    ArrayRef<int64_t> perm = *transpose.getPerm();
    Value query = matmul.getA();
    Value key;
    if (perm == ArrayRef<int64_t>{0, 1, 3, 2}) {
      key = peelRepeatKV(transpose.getData());
    } else if (perm == ArrayRef<int64_t>{0, 2, 3, 1} &&
               rankOf(transpose.getData()) == 4) {
      auto in = cast<RankedTensorType>(transpose.getData().getType());
      auto keyType = RankedTensorType::get(
          {in.getDimSize(0), in.getDimSize(2), in.getDimSize(1),
           in.getDimSize(3)},
          in.getElementType());
      rewriter.setInsertionPoint(transpose);
      key = OnnxTransposeOp::create(rewriter, transpose.getLoc(), keyType,
                                    transpose.getData(),
                                    rewriter.getDenseI64ArrayAttr({0, 2, 1, 3}));
      rewriter.setInsertionPoint(op);
    } else {
      return rewriter.notifyMatchFailure(op, "K is not transposed as Kᵀ");
    }
    Value value = peelRepeatKV(op.getB());
    for (Value v : {query, key, value})
      if (rankOf(v) != 4 || !isFloatTensor(v))
        return rewriter.notifyMatchFailure(op, "Q, K, V are not 4-D tensors");
    auto qt = cast<RankedTensorType>(query.getType());
    auto kt = cast<RankedTensorType>(key.getType());
    auto vt = cast<RankedTensorType>(value.getType());
    if (ShapedType::isDynamic(qt.getDimSize(1)) ||
        ShapedType::isDynamic(kt.getDimSize(1)) ||
        kt.getDimSize(1) != vt.getDimSize(1) ||
        qt.getDimSize(1) % kt.getDimSize(1) != 0)
      return rewriter.notifyMatchFailure(op, "head counts do not group");
    if (mask && rankOf(mask) > 4)
      return rewriter.notifyMatchFailure(op, "mask of rank above 4");

    Location loc = rewriter.getFusedLoc({softmax.getLoc(), op.getLoc()});
    if (mask && negateMask) {
      // A mask built as Not(keep) is used as `keep` directly.
      if (auto notOp = mask.getDefiningOp<OnnxNotOp>())
        mask = notOp.getX();
      else
        mask = OnnxNotOp::create(rewriter, loc, mask.getType(), mask);
    }
    auto attention = AttentionOp::create(
        rewriter, loc, op.getType(), query, key, value, mask, /*past_key=*/nullptr,
        /*past_value=*/nullptr, rewriter.getF32FloatAttr(scale),
        rewriter.getBoolAttr(false));
    rewriter.replaceOp(op, attention.getResult());
    return success();
  }
};
} // namespace

void mlir::tailor::raise::populateRaiseAttentionPatterns(
    RewritePatternSet &patterns) {
  patterns.add<AttentionSubgraph>(patterns.getContext());
}
