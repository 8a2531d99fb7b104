//===- RaiseMoE.cpp - Dense mixture-of-experts blocks -> tailor.moe -------===//
//
// The static form a Mixtral-style block takes in an ONNX export:
//
//   probs   = Softmax(linear(x, R))
//   w, i    = TopK(probs, k);  w = w / ReduceSum(w)       (renormalised)
//   weights = ScatterElements(zeros_like(probs), i, w)
//   y       = zeros_like(x) + sum_e Slice(weights, e, e+1) * expert_e(x)
//   expert_e(x) = linear(swiglu(linear(x, G_e), linear(x, U_e)), D_e)
//
// becomes one tailor.moe with the expert weights stacked into [E, D, F] and
// [E, F, D] constants.
//
//===----------------------------------------------------------------------===//

#include "RaiseUtils.h"

#include "mlir/IR/DialectResourceBlobManager.h"

using namespace mlir;
using namespace mlir::tailor;
using namespace mlir::tailor::raise;

namespace {
/// ConstantOfShape with a zero (or default) value.
bool isZeros(Value v) {
  auto cos = v.getDefiningOp<OnnxConstantOfShapeOp>();
  if (!cos)
    return false;
  if (!cos.getValueAttr())
    return true;
  DenseElementsAttr value = toDenseElements(cos.getValueAttr());
  if (!value || value.getNumElements() != 1)
    return false;
  if (isa<FloatType>(value.getElementType()))
    return (*value.value_begin<APFloat>()).isZero();
  return (*value.value_begin<APInt>()).isZero();
}

struct Expert {
  int64_t index;
  Value gate, up, down;
};

/// weights[..., e:e+1] * expert(x), in either order.
bool matchTerm(Value term, Value x, Value &weights, Expert &expert) {
  auto mul = term.getDefiningOp<OnnxMulOp>();
  if (!mul || !term.hasOneUse())
    return false;
  return eitherOrder(mul.getA(), mul.getB(), [&](Value s, Value e) {
    auto slice = s.getDefiningOp<OnnxSliceOp>();
    if (!slice)
      return false;
    auto starts = ints(slice.getStarts()), ends = ints(slice.getEnds());
    auto axes = ints(slice.getAxes());
    if (!starts || !ends || !axes || starts->size() != 1 || ends->size() != 1 ||
        axes->size() != 1 || !isLastAxis((*axes)[0], rankOf(slice.getData())) ||
        (*ends)[0] != (*starts)[0] + 1 || (*starts)[0] < 0)
      return false;
    if (slice.getSteps()) {
      auto steps = ints(slice.getSteps());
      if (!steps || steps->size() != 1 || (*steps)[0] != 1)
        return false;
    }
    auto down = e.getDefiningOp<LinearOp>();
    if (!down || down.getBias() || !isWeight(down.getWeight(), 2))
      return false;
    auto swiglu = down.getInput().getDefiningOp<SwiGLUOp>();
    if (!swiglu)
      return false;
    auto gate = swiglu.getGate().getDefiningOp<LinearOp>();
    auto up = swiglu.getUp().getDefiningOp<LinearOp>();
    if (!gate || !up || gate.getBias() || up.getBias() || gate.getInput() != x ||
        up.getInput() != x || !isWeight(gate.getWeight(), 2) ||
        !isWeight(up.getWeight(), 2))
      return false;
    weights = slice.getData();
    expert = {(*starts)[0], gate.getWeight(), up.getWeight(), down.getWeight()};
    return true;
  });
}

/// The bytes of constant weights of one type, concatenated (empty when one
/// is not a readable constant of that type).
std::vector<char> concatenateWeights(ArrayRef<Value> weights,
                                     RankedTensorType type) {
  std::vector<char> data;
  int64_t elementBytes = type.getElementTypeBitWidth() / 8;
  int64_t bytes = type.getNumElements() * elementBytes;
  for (Value w : weights) {
    ElementsAttr attr = getConstantElements(w);
    if (w.getType() != type || !attr)
      return {};
    ArrayRef<char> raw;
    if (auto resource = dyn_cast<DenseResourceElementsAttr>(attr)) {
      AsmResourceBlob *blob = resource.getRawHandle().getBlob();
      if (!blob)
        return {};
      raw = blob->getData();
    } else if (auto dense = dyn_cast<DenseElementsAttr>(attr)) {
      raw = dense.getRawData();
      if (dense.isSplat()) { // one element stands for all
        for (int64_t i = 0; i < type.getNumElements(); ++i)
          data.insert(data.end(), raw.begin(), raw.end());
        continue;
      }
    }
    if ((int64_t)raw.size() != bytes)
      return {};
    data.insert(data.end(), raw.begin(), raw.end());
  }
  return data;
}

/// A new constant holding `weights` stacked along a new leading axis.
Value stack(PatternRewriter &rewriter, Location loc, ArrayRef<Value> weights,
            ArrayRef<char> data, StringRef name) {
  auto type = cast<RankedTensorType>(weights[0].getType());
  SmallVector<int64_t> shape{(int64_t)weights.size()};
  shape.append(type.getShape().begin(), type.getShape().end());
  auto stackedType = RankedTensorType::get(shape, type.getElementType());
  size_t alignment = std::max<size_t>(type.getElementTypeBitWidth() / 8, 1);
  auto attr = DenseResourceElementsAttr::get(
      stackedType, name,
      HeapAsmResourceBlob::allocateAndCopyWithAlign(data, alignment,
                                                    /*dataIsMutable=*/false));
  return OnnxConstantOp::create(rewriter, loc, stackedType, attr, nullptr,
                                nullptr, nullptr, nullptr, nullptr, nullptr);
}

struct DenseMoESubgraph : OpRewritePattern<OnnxAddOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(OnnxAddOp op,
                                PatternRewriter &rewriter) const override {
    // Walk the sum down to zeros_like(x), collecting one term per expert.
    SmallVector<Expert> experts;
    Value weights, x;
    Value cur = op.getResult();
    while (true) {
      auto add = cur.getDefiningOp<OnnxAddOp>();
      if (!add || (cur != op.getResult() && !cur.hasOneUse()))
        return rewriter.notifyMatchFailure(op, "not a sum of expert terms");
      Value rest;
      Expert expert;
      Value termWeights;
      bool matched = eitherOrder(add.getA(), add.getB(), [&](Value r, Value t) {
        Value termX;
        // The experts' common input is what the first expert reads.
        if (auto mul = t.getDefiningOp<OnnxMulOp>()) {
          for (Value operand : {mul.getA(), mul.getB()})
            if (auto down = operand.getDefiningOp<LinearOp>())
              if (auto swiglu = down.getInput().getDefiningOp<SwiGLUOp>())
                if (auto gate = swiglu.getGate().getDefiningOp<LinearOp>())
                  termX = gate.getInput();
        }
        if (!termX || (x && termX != x))
          return false;
        if (!matchTerm(t, termX, termWeights, expert))
          return false;
        x = termX;
        rest = r;
        return true;
      });
      if (!matched || (weights && termWeights != weights))
        return rewriter.notifyMatchFailure(op, "term is not weight * expert");
      weights = termWeights;
      experts.push_back(expert);
      if (isZeros(rest))
        break;
      cur = rest;
    }

    // The routing weights: top-k of a softmax router, scattered.
    auto scatter = weights.getDefiningOp<OnnxScatterElementsOp>();
    if (!scatter || !isZeros(scatter.getData()) ||
        !isLastAxis(scatter.getAxis(), rankOf(scatter.getData())) ||
        scatter.getReduction() != "none")
      return rewriter.notifyMatchFailure(op, "weights are not scattered top-k");
    Value topWeights = scatter.getUpdates();
    bool normalize = false;
    if (auto div = topWeights.getDefiningOp<OnnxDivOp>()) {
      auto sum = div.getB().getDefiningOp<OnnxReduceSumOp>();
      auto axes = sum ? ints(sum.getAxes()) : std::nullopt;
      if (!sum || sum.getData() != div.getA() || sum.getKeepdims() != 1 ||
          !axes || axes->size() != 1 ||
          !isLastAxis((*axes)[0], rankOf(sum.getData())))
        return rewriter.notifyMatchFailure(op, "unrecognised renormalisation");
      topWeights = div.getA();
      normalize = true;
    }
    auto topk = topWeights.getDefiningOp<OnnxTopKOp>();
    if (!topk || topk.getValues() != topWeights ||
        topk.getIndices() != scatter.getIndices() || topk.getLargest() != 1 ||
        !isLastAxis(topk.getAxis(), rankOf(topk.getX())))
      return rewriter.notifyMatchFailure(op, "weights are not a top-k");
    auto k = ints(topk.getK());
    auto softmax = topk.getX().getDefiningOp<OnnxSoftmaxOp>();
    if (!k || k->size() != 1 || !softmax ||
        !isLastAxis(softmax.getAxis(), rankOf(softmax.getInput())))
      return rewriter.notifyMatchFailure(op, "router is not a softmax top-k");
    auto router = softmax.getInput().getDefiningOp<LinearOp>();
    if (!router || router.getBias() || router.getInput() != x ||
        !isWeight(router.getWeight(), 2))
      return rewriter.notifyMatchFailure(op, "router is not linear(x, R)");

    // Every expert exactly once, in router order.
    int64_t numExperts =
        cast<RankedTensorType>(router.getWeight().getType()).getDimSize(1);
    if ((int64_t)experts.size() != numExperts || (*k)[0] < 1 ||
        (*k)[0] > numExperts)
      return rewriter.notifyMatchFailure(op, "experts do not cover the router");
    SmallVector<Value> gates(numExperts), ups(numExperts), downs(numExperts);
    for (const Expert &e : experts) {
      if (e.index >= numExperts || gates[e.index])
        return rewriter.notifyMatchFailure(op, "an expert appears twice");
      gates[e.index] = e.gate;
      ups[e.index] = e.up;
      downs[e.index] = e.down;
    }
    // Read every weight before creating anything: a failed match must leave
    // the IR untouched.
    auto gateType = dyn_cast<RankedTensorType>(gates[0].getType());
    auto downType = dyn_cast<RankedTensorType>(downs[0].getType());
    if (!gateType || !downType || !gateType.hasStaticShape() ||
        !downType.hasStaticShape())
      return rewriter.notifyMatchFailure(op, "expert weights are not static");
    std::vector<char> gateData = concatenateWeights(gates, gateType);
    std::vector<char> upData = concatenateWeights(ups, gateType);
    std::vector<char> downData = concatenateWeights(downs, downType);
    if (gateData.empty() || upData.empty() || downData.empty())
      return rewriter.notifyMatchFailure(op, "expert weights cannot be stacked");
    rewriter.setInsertionPoint(op);
    Location loc = op.getLoc();
    Value wGate = stack(rewriter, loc, gates, gateData, "moe.w_gate");
    Value wUp = stack(rewriter, loc, ups, upData, "moe.w_up");
    Value wDown = stack(rewriter, loc, downs, downData, "moe.w_down");
    rewriter.replaceOpWithNewOp<MoEOp>(
        op, op.getType(), x, router.getWeight(), wGate, wUp, wDown,
        rewriter.getI64IntegerAttr((*k)[0]), rewriter.getBoolAttr(normalize));
    return success();
  }
};
} // namespace

void mlir::tailor::raise::populateRaiseMoEPatterns(
    RewritePatternSet &patterns) {
  patterns.add<DenseMoESubgraph>(patterns.getContext());
}
