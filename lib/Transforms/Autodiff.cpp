//===- Autodiff.cpp - Reverse-mode differentiation of the entry ----------===//
//
// The entry's first result is a scalar loss. Walking the function backwards
// from it, each op whose result has an adjoint (d loss / d result) gives its
// operands theirs by the op's rule; the adjoints of the selected arguments
// become extra results. Every rule builds ordinary tailor ops, so the
// gradient lowers, fuses and compiles like the forward computation.
//
// Only "active" values get adjoints: those that depend on a selected
// argument (forward activity analysis), of a floating-point type. An op
// with an active operand and no rule is an error naming the op and its
// ONNX node.

#include "tailor/Dialect/OnnxBridge.h"
#include "tailor/Transforms/Entry.h"
#include "QuantizedWeights.h"
#include "tailor/Transforms/Passes.h"

#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/Dialect/Quant/IR/QuantTypes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>
#include <limits>

namespace mlir::tailor {
#define GEN_PASS_DEF_TAILORAUTODIFF
#include "dialects/Tailor/Passes.h.inc"
} // namespace mlir::tailor

using namespace mlir;
using namespace mlir::tailor;

namespace {

RankedTensorType rankedOf(Value v) {
  return dyn_cast<RankedTensorType>(v.getType());
}

bool isFloatTensor(Value v) {
  auto t = rankedOf(v);
  return t && isa<FloatType>(t.getElementType());
}

/// The constant integer values of `v` (an ONNX Constant), if it is one.
std::optional<SmallVector<int64_t>> constantInts(Value v) {
  Attribute attr;
  if (!v || !matchPattern(v, m_Constant(&attr)))
    return std::nullopt;
  SmallVector<int64_t> out;
  if (auto dense = dyn_cast<DenseIntElementsAttr>(attr)) {
    for (const APInt &x : dense.getValues<APInt>())
      out.push_back(x.getSExtValue());
    return out;
  }
  // Initializers are resource blobs.
  if (auto res = dyn_cast<DenseI64ResourceElementsAttr>(attr))
    if (auto values = res.tryGetAsArrayRef())
      return SmallVector<int64_t>(values->begin(), values->end());
  if (auto res = dyn_cast<DenseI32ResourceElementsAttr>(attr))
    if (auto values = res.tryGetAsArrayRef())
      return SmallVector<int64_t>(values->begin(), values->end());
  return std::nullopt;
}

/// Builds the adjoint computations before the entry's return.
struct Differentiator {
  OpBuilder &b;
  Location loc;
  DenseMap<Value, Value> adjoint;
  /// Constant weights transposed at compile time, both ways (each weight is
  /// copied once; transposing the copy gives the weight back).
  DenseMap<Value, Value> transposedConstant;

  /// The adjoint of `v` so far (null: none).
  Value of(Value v) const { return adjoint.lookup(v); }

  void accumulate(Value v, Value d) {
    if (d.getType() != v.getType())
      d = tensor::CastOp::create(b, loc, v.getType(), d);
    auto [it, inserted] = adjoint.try_emplace(v, d);
    if (!inserted)
      it->second = OnnxAddOp::create(b, loc, v.getType(), it->second, d);
  }

  //===--- Building blocks ---------------------------------------------===//

  Value constant(RankedTensorType type, Attribute value) {
    auto attr = DenseElementsAttr::get(type, value);
    return OnnxConstantOp::create(b, loc, type, attr, nullptr, nullptr,
                                  nullptr, nullptr, nullptr, nullptr);
  }
  /// A rank-0 constant of `like`'s element type.
  Value scalar(Value like, double value) {
    Type elem = rankedOf(like).getElementType();
    return constant(RankedTensorType::get({}, elem),
                    b.getFloatAttr(elem, value));
  }
  Value i64s(ArrayRef<int64_t> values) {
    auto type = RankedTensorType::get({int64_t(values.size())},
                                      b.getI64Type());
    auto attr = DenseIntElementsAttr::get(type, values);
    return OnnxConstantOp::create(b, loc, type, attr, nullptr, nullptr,
                                  nullptr, nullptr, nullptr, nullptr);
  }
  /// The numpy broadcast of two operands' types (a static size other than
  /// 1 wins over a dynamic one).
  Type broadcast(Value a, Value c) {
    auto at = rankedOf(a), ct = rankedOf(c);
    if (at == ct)
      return at;
    int64_t rank = std::max(at.getRank(), ct.getRank());
    SmallVector<int64_t> shape;
    for (int64_t i = 0; i < rank; ++i) {
      int64_t ai = i - (rank - at.getRank()), ci = i - (rank - ct.getRank());
      int64_t as = ai >= 0 ? at.getDimSize(ai) : 1,
              cs = ci >= 0 ? ct.getDimSize(ci) : 1;
      shape.push_back(as == 1                     ? cs
                      : cs == 1                   ? as
                      : ShapedType::isDynamic(as) ? cs
                                                  : as);
    }
    return RankedTensorType::get(shape, at.getElementType());
  }
  Value add(Value a, Value c) {
    return OnnxAddOp::create(b, loc, broadcast(a, c), a, c);
  }
  Value sub(Value a, Value c) {
    return OnnxSubOp::create(b, loc, broadcast(a, c), a, c);
  }
  Value mul(Value a, Value c) {
    return OnnxMulOp::create(b, loc, broadcast(a, c), a, c);
  }
  Value div(Value a, Value c) {
    return OnnxDivOp::create(b, loc, broadcast(a, c), a, c);
  }
  Value neg(Value a) { return OnnxNegOp::create(b, loc, a.getType(), a); }
  Value shapeOf(Value v) {
    auto type = RankedTensorType::get({rankedOf(v).getRank()},
                                      b.getI64Type());
    return OnnxShapeOp::create(b, loc, type, v, nullptr,
                               b.getI64IntegerAttr(0));
  }
  /// `d` reshaped to `like`'s shape (and type).
  Value reshapeLike(Value d, Value like) {
    return OnnxReshapeOp::create(b, loc, like.getType(), d, shapeOf(like),
                                 b.getI64IntegerAttr(0));
  }
  Value transpose(Value v, ArrayRef<int64_t> perm) {
    auto t = rankedOf(v);
    SmallVector<int64_t> shape;
    for (int64_t p : perm)
      shape.push_back(t.getDimSize(p));
    // A frozen [K, N] weight transposed for the backward (dX = dY W^T) is
    // transposed here, once: the backward's product then has a constant
    // weight, which the CPU pipeline packs for its micro-kernel. The cost:
    // a second copy of each frozen weight in the step's constants.
    if (t.getRank() == 2 && perm[0] == 1)
      if (Value known = transposedConstant.lookup(v))
        return known;
    if (t.getRank() == 2 && perm[0] == 1 && t.hasStaticShape() &&
        t.getElementType().isF32() && v.getDefiningOp<OnnxConstantOp>())
      if (auto w = constantFloats(v)) {
        int64_t k = t.getDimSize(0), n = t.getDimSize(1);
        std::vector<float> wt(w->size());
        for (int64_t r = 0; r < k; ++r)
          for (int64_t c = 0; c < n; ++c)
            wt[c * k + r] = (*w)[r * n + c];
        auto type = RankedTensorType::get(shape, t.getElementType());
        Value copy = OnnxConstantOp::create(
            b, loc, type, DenseElementsAttr::get(type, ArrayRef<float>(wt)),
            nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
        transposedConstant[v] = copy;
        transposedConstant[copy] = v;
        return copy;
      }
    return OnnxTransposeOp::create(
        b, loc, RankedTensorType::get(shape, t.getElementType()), v,
        b.getDenseI64ArrayAttr(perm));
  }
  /// Swaps the last two dims.
  Value transposeLast(Value v) {
    int64_t r = rankedOf(v).getRank();
    SmallVector<int64_t> perm = llvm::to_vector(llvm::seq<int64_t>(0, r));
    std::swap(perm[r - 1], perm[r - 2]);
    return transpose(v, perm);
  }
  Value matmul(Value a, Value c) {
    auto at = rankedOf(a), ct = rankedOf(c);
    // Batch dims: the longer operand's (broadcast sizes are equal or 1).
    SmallVector<int64_t> shape;
    int64_t batch = std::max(at.getRank(), ct.getRank()) - 2;
    for (int64_t i = 0; i < batch; ++i) {
      int64_t ai = i - (batch - (at.getRank() - 2)),
              ci = i - (batch - (ct.getRank() - 2));
      int64_t as = ai >= 0 ? at.getDimSize(ai) : 1,
              cs = ci >= 0 ? ct.getDimSize(ci) : 1;
      shape.push_back(as == 1 ? cs : cs == 1 ? as
                                     : ShapedType::isDynamic(as) ? cs
                                                                 : as);
    }
    shape.push_back(at.getDimSize(at.getRank() - 2));
    shape.push_back(ct.getDimSize(ct.getRank() - 1));
    return OnnxMatMulOp::create(
        b, loc, RankedTensorType::get(shape, at.getElementType()), a, c);
  }
  /// Sum of `v` over `axes`, keeping them as size-1 dims.
  Value sumKeep(Value v, ArrayRef<int64_t> axes) {
    auto t = rankedOf(v);
    SmallVector<int64_t> shape(t.getShape());
    for (int64_t a : axes)
      shape[a] = 1;
    return OnnxReduceSumOp::create(
        b, loc, RankedTensorType::get(shape, t.getElementType()), v,
        i64s(axes), b.getI64IntegerAttr(1), b.getI64IntegerAttr(0));
  }
  /// `d` (at the broadcast shape) summed back to `operand`'s shape.
  Value unbroadcast(Value d, Value operand) {
    auto dt = rankedOf(d), ot = rankedOf(operand);
    if (dt == ot)
      return d;
    int64_t extra = dt.getRank() - ot.getRank();
    SmallVector<int64_t> axes = llvm::to_vector(llvm::seq<int64_t>(0, extra));
    for (int64_t j = 0; j < ot.getRank(); ++j)
      if (ot.getDimSize(j) == 1 && dt.getDimSize(j + extra) != 1)
        axes.push_back(j + extra);
    if (!axes.empty())
      d = sumKeep(d, axes);
    return reshapeLike(d, operand);
  }
  /// `d` broadcast to `like`'s shape.
  Value expandLike(Value d, Value like) {
    return OnnxExpandOp::create(b, loc, like.getType(), d, shapeOf(like));
  }
  Value zerosLike(Value like) { return expandLike(scalar(like, 0.0), like); }
  /// A float mask (1 where `cond`) at `like`'s type.
  Value where(Value cond, Value x, Value y, Type type) {
    return OnnxWhereOp::create(b, loc, type, cond, x, y);
  }
  /// Reduction axes (sorted, non-negative) of a Reduce* op over `data`:
  /// `given` (none: every axis, unless `noop`).
  SmallVector<int64_t> reduceAxes(Value data, ArrayRef<int64_t> given,
                                  bool noop) {
    int64_t rank = rankedOf(data).getRank();
    SmallVector<int64_t> axes(given);
    if (axes.empty() && !noop)
      axes = llvm::to_vector(llvm::seq<int64_t>(0, rank));
    for (int64_t &a : axes)
      if (a < 0)
        a += rank;
    llvm::sort(axes);
    return axes;
  }
  /// The adjoint of a reduction's input: `d` with the reduced axes
  /// restored (when not kept) and broadcast over them.
  Value unreduce(Value d, Value input, ArrayRef<int64_t> axes, bool kept) {
    if (!kept && !axes.empty()) {
      auto dt = rankedOf(d);
      SmallVector<int64_t> shape(dt.getShape());
      for (int64_t a : axes)
        shape.insert(shape.begin() + a, 1);
      d = OnnxUnsqueezeOp::create(
          b, loc, RankedTensorType::get(shape, dt.getElementType()), d,
          i64s(axes));
    }
    return expandLike(d, input);
  }

  //===--- Rules --------------------------------------------------------===//

  using Give = function_ref<void(Value, function_ref<Value()>)>;

  /// The adjoints of a normalization of `x` over `axes` (`count` elements
  /// each): layer norm (`centred`) or RMS norm, y = xhat * gamma (+ beta).
  void normGrad(Value x, Value gamma, Value beta, ArrayRef<int64_t> axes,
                int64_t count, double eps, bool centred, Value dy, Give give) {
    // mean over the normalized axes, kept as size-1 dims
    auto mean = [&](Value v) {
      return div(sumKeep(v, axes), scalar(v, double(count)));
    };
    // The forward's statistics, recomputed: rstd = 1 / sqrt(var + eps)
    // (var: the mean square of x, centred or not).
    Value xc = centred ? sub(x, mean(x)) : x;
    Value var = add(mean(mul(xc, xc)), scalar(x, eps));
    Value rstd = OnnxReciprocalOp::create(
        b, loc, var.getType(), OnnxSqrtOp::create(b, loc, var.getType(), var));
    Value xhat = mul(xc, rstd);
    give(x, [&] {
      Value g = mul(dy, gamma);
      Value inner = sub(g, mul(xhat, mean(mul(g, xhat))));
      if (centred)
        inner = sub(inner, mean(g));
      return mul(inner, rstd);
    });
    give(gamma, [&] { return unbroadcast(mul(dy, xhat), gamma); });
    give(beta, [&] { return unbroadcast(dy, beta); });
  }

  /// The float value of a linear's weight: itself, or for a weight
  /// tailor-quantize made (the integers of a constant behind quant.scast,
  /// int8 per column or int4 groups of rows) `scale (q - zero_point)`
  /// computed by ops (a temporary of the step, not a stored float copy:
  /// QLoRA's frozen quantized base); null for another form.
  Value dequantized(Value w) {
    auto wt = rankedOf(w);
    if (!wt || wt.getRank() != 2 || !wt.hasStaticShape())
      return {};
    if (isa<FloatType>(wt.getElementType()))
      return w;
    auto storage = w.getDefiningOp<quant::StorageCastOp>();
    if (!storage)
      return {};
    int64_t k = wt.getDimSize(0), n = wt.getDimSize(1);
    auto f32 = b.getF32Type();
    auto ints = rankedOf(storage.getInput());
    if (!ints || !ints.getElementType().isInteger(8))
      return {};
    Value q = OnnxCastOp::create(b, loc, RankedTensorType::get({k, n}, f32),
                                 storage.getInput(), b.getI64IntegerAttr(1));
    auto values = [&](RankedTensorType type, ArrayRef<float> v) {
      return OnnxConstantOp::create(b, loc, type,
                                    DenseElementsAttr::get(type, v), nullptr,
                                    nullptr, nullptr, nullptr, nullptr, nullptr)
          .getResult();
    };
    if (auto axis =
            dyn_cast<quant::UniformQuantizedPerAxisType>(wt.getElementType())) {
      if (axis.getQuantizedDimension() != 1 || !axis.getExpressedType().isF32())
        return {};
      SmallVector<float> scales, zeros;
      for (double v : axis.getScales())
        scales.push_back(float(v));
      for (int64_t z : axis.getZeroPoints())
        zeros.push_back(float(z));
      auto row = RankedTensorType::get({n}, f32);
      return mul(sub(q, values(row, zeros)), values(row, scales));
    }
    auto sub4 =
        dyn_cast<quant::UniformQuantizedSubChannelType>(wt.getElementType());
    if (!sub4 || !sub4.getExpressedType().isF32())
      return {};
    auto scales = dyn_cast<DenseFPElementsAttr>(sub4.getScales());
    auto zeros = dyn_cast<DenseIntElementsAttr>(sub4.getZeroPoints());
    if (!scales || !zeros)
      return {};
    auto st = cast<ShapedType>(scales.getType());
    int64_t groups = st.getRank() == 2 ? st.getDimSize(0) : 0;
    if (groups < 1 || k % groups || st.getDimSize(1) != n)
      return {};
    int64_t size = k / groups;
    auto blockType = RankedTensorType::get({groups, 1, n}, f32);
    SmallVector<float> sv, zv;
    for (APFloat v : scales.getValues<APFloat>())
      sv.push_back(float(v.convertToDouble()));
    for (APInt z : zeros.getValues<APInt>())
      zv.push_back(float(z.getSExtValue()));
    Value blocks = OnnxReshapeOp::create(
        b, loc, RankedTensorType::get({groups, size, n}, f32), q,
        i64s({groups, size, n}), b.getI64IntegerAttr(0));
    Value d = mul(sub(blocks, values(blockType, zv)), values(blockType, sv));
    return OnnxReshapeOp::create(b, loc, RankedTensorType::get({k, n}, f32), d,
                                 i64s({k, n}), b.getI64IntegerAttr(0));
  }

  /// silu'(x) = s (1 + x (1 - s)), s = sigmoid(x).
  Value siluDerivative(Value x) {
    Value s = OnnxSigmoidOp::create(b, loc, x.getType(), x);
    return mul(s, add(scalar(x, 1.0), mul(x, sub(scalar(x, 1.0), s))));
  }

  /// RoPE's rotation of the last axis: rotate_half, concat(-x2, x1), or
  /// with `interleaved` each pair (x0, x1) -> (-x1, x0).
  Value rotate(Value x, bool interleaved) {
    auto t = rankedOf(x);
    int64_t rank = t.getRank(), d = t.getDimSize(rank - 1);
    if (!interleaved) {
      Value lo = sliceAxis(x, rank - 1, 0, d / 2);
      Value hi = sliceAxis(x, rank - 1, d / 2, d);
      return OnnxConcatOp::create(b, loc, x.getType(), ValueRange{neg(hi), lo},
                                  b.getI64IntegerAttr(rank - 1));
    }
    SmallVector<int64_t> pairs(t.getShape());
    pairs.back() = d / 2;
    pairs.push_back(2);
    Value lead = OnnxSliceOp::create(
        b, loc, RankedTensorType::get({rank - 1}, b.getI64Type()), shapeOf(x),
        i64s({0}), i64s({rank - 1}), Value(), Value());
    Value shape = OnnxConcatOp::create(
        b, loc, RankedTensorType::get({rank + 1}, b.getI64Type()),
        ValueRange{lead, i64s({d / 2, 2})}, b.getI64IntegerAttr(0));
    Value p = OnnxReshapeOp::create(
        b, loc, RankedTensorType::get(pairs, t.getElementType()), x, shape,
        b.getI64IntegerAttr(0));
    Value x0 = sliceAxis(p, rank, 0, 1), x1 = sliceAxis(p, rank, 1, 2);
    Value r = OnnxConcatOp::create(b, loc, p.getType(), ValueRange{neg(x1), x0},
                                   b.getI64IntegerAttr(rank));
    return reshapeLike(r, x);
  }

  /// d table of a row lookup: the rows of `dy` scatter-added at `ids`.
  Value scatterRows(Value table, Value ids, Value dy) {
    auto it = rankedOf(ids);
    SmallVector<int64_t> shape(it.getShape());
    shape.push_back(1);
    Value idx = OnnxUnsqueezeOp::create(
        b, loc, RankedTensorType::get(shape, it.getElementType()), ids,
        i64s({it.getRank()}));
    if (!it.getElementType().isInteger(64))
      idx = OnnxCastOp::create(b, loc,
                               RankedTensorType::get(shape, b.getI64Type()),
                               idx, b.getI64IntegerAttr(7));
    return OnnxScatterNDOp::create(b, loc, table.getType(), zerosLike(table),
                                   idx, dy, b.getStringAttr("add"))
        .getResult();
  }

  /// A [B, Hkv, T, D] key or value repeated to [B, Hkv * g, T, D] (each
  /// head g times in a row, as grouped-query attention reads it).
  Value repeatHeads(Value v, int64_t g) {
    if (g == 1)
      return v;
    auto t = rankedOf(v);
    Type elem = t.getElementType();
    auto dims = [&](ArrayRef<Value> parts, int64_t n) {
      return OnnxConcatOp::create(b, loc,
                                  RankedTensorType::get({n}, b.getI64Type()),
                                  parts, b.getI64IntegerAttr(0));
    };
    SmallVector<int64_t> five{t.getDimSize(0), t.getDimSize(1), 1,
                              t.getDimSize(2), t.getDimSize(3)};
    Value u = OnnxUnsqueezeOp::create(b, loc, RankedTensorType::get(five, elem),
                                      v, i64s({2}));
    five[2] = g;
    Value e = OnnxExpandOp::create(
        b, loc, RankedTensorType::get(five, elem), u,
        dims({dimOf(v, 0), dimOf(v, 1), i64s({g}), dimOf(v, 2), dimOf(v, 3)},
             5));
    int64_t heads = t.getDimSize(1) * g;
    return OnnxReshapeOp::create(
        b, loc,
        RankedTensorType::get(
            {t.getDimSize(0), heads, t.getDimSize(2), t.getDimSize(3)}, elem),
        e, dims({dimOf(v, 0), i64s({heads}), dimOf(v, 2), dimOf(v, 3)}, 4),
        b.getI64IntegerAttr(0));
  }

  /// The adjoint of repeatHeads: the g copies of each head summed.
  Value sumHeads(Value d, Value like, int64_t g) {
    if (g == 1)
      return d;
    auto t = rankedOf(like);
    SmallVector<int64_t> five{t.getDimSize(0), t.getDimSize(1), g,
                              t.getDimSize(2), t.getDimSize(3)};
    Value shape = OnnxConcatOp::create(
        b, loc, RankedTensorType::get({5}, b.getI64Type()),
        ValueRange{dimOf(like, 0), dimOf(like, 1), i64s({g}), dimOf(like, 2),
                   dimOf(like, 3)},
        b.getI64IntegerAttr(0));
    Value r = OnnxReshapeOp::create(
        b, loc, RankedTensorType::get(five, t.getElementType()), d, shape,
        b.getI64IntegerAttr(0));
    return OnnxReduceSumOp::create(b, loc, like.getType(), r, i64s({2}),
                                   b.getI64IntegerAttr(0),
                                   b.getI64IntegerAttr(0));
  }

  /// A scalar int64 (rank 0) from a one-element int64 tensor.
  Value toScalar(Value v) {
    return OnnxReshapeOp::create(b, loc,
                                 RankedTensorType::get({}, b.getI64Type()), v,
                                 i64s({}), b.getI64IntegerAttr(0));
  }

  /// Attention's backward: the probabilities recomputed from the scores,
  /// then dV = P^T dO, dP = dO V^T, dS = P (dP - rowsum(dP P)),
  /// dQ = scale dS K, dK = scale dS^T Q (grouped heads summed back).
  LogicalResult attentionGrad(AttentionOp att, Value dout,
                              const llvm::SetVector<Value> &active, Give give) {
    Value q = att.getQuery(), newK = att.getKey(), newV = att.getValue();
    Value mask = att.getMask();
    Value pastK = att.getPastKey(), pastV = att.getPastValue();
    if (bool(pastK) != bool(pastV))
      return failure();
    // With a KV cache (prefix tuning's learned keys and values), the keys
    // are [past; new] along the sequence axis.
    auto along2 = [&](Value past, Value cur) -> Value {
      if (!past)
        return cur;
      auto pt = rankedOf(past), ct = rankedOf(cur);
      SmallVector<int64_t> shape(ct.getShape());
      shape[2] = pt.isDynamicDim(2) || ct.isDynamicDim(2)
                     ? ShapedType::kDynamic
                     : pt.getDimSize(2) + ct.getDimSize(2);
      return OnnxConcatOp::create(
          b, loc, RankedTensorType::get(shape, ct.getElementType()),
          ValueRange{past, cur}, b.getI64IntegerAttr(2));
    };
    Value k = along2(pastK, newK), v = along2(pastV, newV);
    auto qt = rankedOf(q), kt = rankedOf(k), vt = rankedOf(v);
    if (!qt || !kt || !vt || qt.getRank() != 4 || qt.isDynamicDim(1) ||
        kt.isDynamicDim(1) || vt.isDynamicDim(1) || kt.getDimSize(1) == 0 ||
        qt.getDimSize(1) % kt.getDimSize(1))
      return failure();
    if (mask && active.contains(mask) &&
        !isa<FloatType>(rankedOf(mask).getElementType()))
      return failure();
    int64_t g = qt.getDimSize(1) / kt.getDimSize(1);
    double scale = att.getEffectiveScale();
    Value kf = repeatHeads(k, g), vf = repeatHeads(v, g);
    Value s = mul(matmul(q, transposeLast(kf)), scalar(q, scale));
    auto st = rankedOf(s);
    Value minusInf = scalar(q, -std::numeric_limits<double>::infinity());
    if (mask) {
      if (rankedOf(mask).getElementType().isInteger(1))
        s = OnnxWhereOp::create(b, loc, broadcast(s, mask), mask, s, minusInf);
      else
        s = add(s, mask);
    }
    if (att.getCausal()) {
      // Row i sees columns j <= i + (T - S).
      int64_t rows = st.getDimSize(2), cols = st.getDimSize(3);
      auto keepType = RankedTensorType::get({rows, cols}, b.getI1Type());
      Value keep;
      if (!ShapedType::isDynamic(rows) && !ShapedType::isDynamic(cols)) {
        SmallVector<bool> bits;
        for (int64_t i = 0; i < rows; ++i)
          for (int64_t j = 0; j < cols; ++j)
            bits.push_back(j <= i + (cols - rows));
        keep = OnnxConstantOp::create(
            b, loc, keepType, DenseElementsAttr::get(keepType, bits), nullptr,
            nullptr, nullptr, nullptr, nullptr, nullptr);
      } else {
        Value sRows = dimOf(s, 2), tCols = dimOf(s, 3);
        Value zero = toScalar(i64s({0})), one = toScalar(i64s({1}));
        auto vec = [&](int64_t n) {
          return RankedTensorType::get({n}, b.getI64Type());
        };
        Value i =
            OnnxRangeOp::create(b, loc, vec(rows), zero, toScalar(sRows), one);
        Value j =
            OnnxRangeOp::create(b, loc, vec(cols), zero, toScalar(tCols), one);
        Value col = OnnxUnsqueezeOp::create(
            b, loc, RankedTensorType::get({rows, 1}, b.getI64Type()),
            OnnxAddOp::create(b, loc, vec(rows), i, isub(tCols, sRows)),
            i64s({1}));
        Value row = OnnxUnsqueezeOp::create(
            b, loc, RankedTensorType::get({1, cols}, b.getI64Type()), j,
            i64s({0}));
        keep = OnnxLessOrEqualOp::create(b, loc, keepType, row, col);
      }
      s = OnnxWhereOp::create(b, loc, s.getType(), keep, s, minusInf);
    }
    Value p =
        OnnxSoftmaxOp::create(b, loc, s.getType(), s, b.getI64IntegerAttr(-1));
    Value dp = matmul(dout, transposeLast(vf));
    Value ds = mul(p, sub(dp, sumKeep(mul(dp, p), {3})));
    // d [past; new] split back into the past's and the new part's.
    auto split = [&](Value past, Value cur, function_ref<Value()> make) {
      if (!past) {
        give(cur, make);
        return;
      }
      if (!active.contains(past) && !active.contains(cur))
        return;
      Value d = make();
      Value pastLen = dimOf(past, 2);
      give(past, [&] {
        return OnnxSliceOp::create(b, loc, past.getType(), d, i64s({0}),
                                   pastLen, i64s({2}), Value())
            .getResult();
      });
      give(cur, [&] {
        return OnnxSliceOp::create(b, loc, cur.getType(), d, pastLen,
                                   iadd(pastLen, dimOf(cur, 2)), i64s({2}),
                                   Value())
            .getResult();
      });
    };
    split(pastV, newV,
          [&] { return sumHeads(matmul(transposeLast(p), dout), v, g); });
    give(q, [&] { return mul(matmul(ds, kf), scalar(q, scale)); });
    split(pastK, newK, [&] {
      return sumHeads(mul(matmul(transposeLast(ds), q), scalar(q, scale)), k,
                      g);
    });
    give(mask, [&] { return unbroadcast(ds, mask); });
    return success();
  }

  /// Gives the active operands of `op` their adjoints from its results'
  /// (`dys`, null where a result has none; the first is never null for a
  /// one-result op); failure: no rule (diagnosed by the caller).
  LogicalResult differentiate(Operation *op, ArrayRef<Value> dys,
                              const llvm::SetVector<Value> &active);
  //===--- Run-time sizes (1-element int64 tensors) ---------------------===//
  RankedTensorType one64() {
    return RankedTensorType::get({1}, b.getI64Type());
  }
  /// Size `axis` of `v`: its static size, or a slice of its Shape.
  Value dimOf(Value v, int64_t axis) {
    int64_t n = rankedOf(v).getDimSize(axis);
    if (!ShapedType::isDynamic(n))
      return i64s({n});
    return OnnxSliceOp::create(b, loc, one64(), shapeOf(v), i64s({axis}),
                               i64s({axis + 1}), Value(), Value());
  }
  Value iadd(Value x, Value y) {
    return OnnxAddOp::create(b, loc, one64(), x, y);
  }
  Value isub(Value x, Value y) {
    return OnnxSubOp::create(b, loc, one64(), x, y);
  }
  Value imin(Value x, Value y) {
    return OnnxMinOp::create(b, loc, one64(), ValueRange{x, y});
  }
  Value imax(Value x, Value y) {
    return OnnxMaxOp::create(b, loc, one64(), ValueRange{x, y});
  }
  /// ONNX Slice's clamping of a constant start/end into [0, dim].
  Value clampIndex(int64_t v, Value dim) {
    if (v >= 0)
      return imin(i64s({v}), dim);
    return imax(iadd(i64s({v}), dim), i64s({0}));
  }

  /// `d[..., start:end, ...]` along `axis`.
  Value sliceAxis(Value d, int64_t axis, int64_t start, int64_t end) {
    auto t = rankedOf(d);
    SmallVector<int64_t> shape(t.getShape());
    shape[axis] = end - start;
    return OnnxSliceOp::create(
        b, loc, RankedTensorType::get(shape, t.getElementType()), d,
        i64s({start}), i64s({end}), i64s({axis}), Value());
  }
};

LogicalResult
Differentiator::differentiate(Operation *op, ArrayRef<Value> dys,
                              const llvm::SetVector<Value> &active) {
  Value dy = dys.front();
  auto give = [&](Value operand, function_ref<Value()> make) {
    if (operand && active.contains(operand))
      accumulate(operand, make());
  };
  Value y = op->getNumResults() ? op->getResult(0) : Value();
  auto operand = [&](unsigned i) {
    return i < op->getNumOperands() ? op->getOperand(i) : Value();
  };
  Value a = operand(0), c = operand(1);

  return TypeSwitch<Operation *, LogicalResult>(op)
      .Case([&](OnnxAddOp) {
        give(a, [&] { return unbroadcast(dy, a); });
        give(c, [&] { return unbroadcast(dy, c); });
        return success();
      })
      .Case([&](OnnxSubOp) {
        give(a, [&] { return unbroadcast(dy, a); });
        give(c, [&] { return unbroadcast(neg(dy), c); });
        return success();
      })
      .Case([&](OnnxMulOp) {
        give(a, [&] { return unbroadcast(mul(dy, c), a); });
        give(c, [&] { return unbroadcast(mul(dy, a), c); });
        return success();
      })
      .Case([&](OnnxDivOp) {
        give(a, [&] { return unbroadcast(div(dy, c), a); });
        // d(a / c) / dc = -(a / c) / c
        give(c, [&] { return unbroadcast(neg(div(mul(dy, y), c)), c); });
        return success();
      })
      .Case([&](OnnxNegOp) {
        give(a, [&] { return neg(dy); });
        return success();
      })
      .Case([&](OnnxIdentityOp) {
        give(a, [&] { return dy; });
        return success();
      })
      .Case([&](FakeQuantOp) {
        // The straight-through estimator: rounding's gradient taken as 1
        // (with max-based scales nothing is clipped).
        give(a, [&] { return dy; });
        return success();
      })
      .Case([&](OnnxReluOp) {
        give(a, [&] {
          auto condType = RankedTensorType::get(rankedOf(a).getShape(),
                                                b.getI1Type());
          Value positive =
              OnnxGreaterOp::create(b, loc, condType, a, scalar(a, 0.0));
          return where(positive, dy, scalar(dy, 0.0), dy.getType());
        });
        return success();
      })
      .Case([&](OnnxTanhOp) {
        give(a, [&] { return mul(dy, sub(scalar(y, 1.0), mul(y, y))); });
        return success();
      })
      .Case([&](OnnxSigmoidOp) {
        give(a, [&] { return mul(dy, mul(y, sub(scalar(y, 1.0), y))); });
        return success();
      })
      .Case([&](OnnxSoftplusOp) {
        // d softplus(a) = sigmoid(a).
        give(a, [&] {
          return mul(dy, OnnxSigmoidOp::create(b, loc, a.getType(), a));
        });
        return success();
      })
      .Case([&](OnnxExpOp) {
        give(a, [&] { return mul(dy, y); });
        return success();
      })
      .Case([&](OnnxLogOp) {
        give(a, [&] { return div(dy, a); });
        return success();
      })
      .Case([&](OnnxSqrtOp) {
        give(a, [&] { return div(dy, mul(y, scalar(y, 2.0))); });
        return success();
      })
      .Case([&](OnnxReciprocalOp) {
        give(a, [&] { return neg(mul(dy, mul(y, y))); });
        return success();
      })
      .Case([&](OnnxPowOp) -> LogicalResult {
        // d(a^c)/da = c a^(c-1); d(a^c)/dc = a^c log(a). An exponent of
        // another element type (integer, or another float) is cast to the
        // base's for the base's adjoint; its own adjoint needs one type.
        Type elem = rankedOf(a).getElementType();
        if (rankedOf(c).getElementType() != elem) {
          if (active.contains(c))
            return failure();
          auto ct = rankedOf(c);
          std::optional<int32_t> code = onnxDataTypeOf(elem);
          if (!code)
            return failure();
          c = OnnxCastOp::create(b, loc, ct.clone(elem), c,
                                 b.getI64IntegerAttr(*code));
        }
        give(a, [&] {
          Value cm1 = sub(c, scalar(c, 1.0));
          Value p = OnnxPowOp::create(b, loc, y.getType(), a, cm1);
          return unbroadcast(mul(dy, mul(p, c)), a);
        });
        give(c, [&] {
          Value log = OnnxLogOp::create(b, loc, a.getType(), a);
          return unbroadcast(mul(dy, mul(y, log)), c);
        });
        return success();
      })
      .Case([&](OnnxMatMulOp) -> LogicalResult {
        if (rankedOf(a).getRank() < 2 || rankedOf(c).getRank() < 2)
          return failure(); // vector operands: not yet
        give(a, [&] { return unbroadcast(matmul(dy, transposeLast(c)), a); });
        give(c, [&] { return unbroadcast(matmul(transposeLast(a), dy), c); });
        return success();
      })
      .Case([&](OnnxGemmOp gemm) -> LogicalResult {
        // y = alpha * A' B' + beta * C with A' = A or A^T, B' = B or B^T.
        double alpha = gemm.getAlpha().convertToDouble();
        double beta = gemm.getBeta().convertToDouble();
        bool ta = gemm.getTransA() != 0, tb = gemm.getTransB() != 0;
        Value ap = ta ? transposeLast(a) : a, bp = tb ? transposeLast(c) : c;
        Value scaled = alpha == 1.0 ? dy : mul(dy, scalar(dy, alpha));
        give(a, [&] {
          Value d = matmul(scaled, transposeLast(bp)); // dA'
          return ta ? transposeLast(d) : d;
        });
        give(c, [&] {
          Value d = matmul(transposeLast(ap), scaled); // dB'
          return tb ? transposeLast(d) : d;
        });
        Value bias = gemm.getC();
        give(bias, [&] {
          return unbroadcast(beta == 1.0 ? dy : mul(dy, scalar(dy, beta)),
                             bias);
        });
        return success();
      })
      .Case([&](OnnxReduceSumOp r) -> LogicalResult {
        SmallVector<int64_t> given;
        if (Value ax = r.getAxes()) {
          auto values = constantInts(ax);
          if (!values)
            return failure(); // axes computed at run time
          given = *values;
        }
        auto axes = reduceAxes(a, given, r.getNoopWithEmptyAxes() != 0);
        give(a, [&] { return unreduce(dy, a, axes, r.getKeepdims() != 0); });
        return success();
      })
      .Case([&](OnnxReduceMeanOp r) -> LogicalResult {
        SmallVector<int64_t> given;
        if (auto ax = r.getAxes())
          given.assign(ax->begin(), ax->end());
        auto axes = reduceAxes(a, given, /*noop=*/false);
        int64_t count = 1;
        for (int64_t ax : axes) {
          int64_t n = rankedOf(a).getDimSize(ax);
          if (ShapedType::isDynamic(n))
            return failure(); // a dynamic count: not yet
          count *= n;
        }
        give(a, [&] {
          Value d = unreduce(dy, a, axes, r.getKeepdims() != 0);
          return div(d, scalar(d, double(count)));
        });
        return success();
      })
      .Case<OnnxReshapeOp, OnnxSqueezeOp, OnnxUnsqueezeOp, OnnxFlattenOp>(
          [&](Operation *) {
            give(a, [&] { return reshapeLike(dy, a); });
            return success();
          })
      .Case([&](OnnxTransposeOp t) {
        int64_t r = rankedOf(a).getRank();
        SmallVector<int64_t> perm;
        if (auto p = t.getPerm())
          perm.assign(p->begin(), p->end());
        else
          for (int64_t i = r - 1; i >= 0; --i)
            perm.push_back(i);
        SmallVector<int64_t> inverse(r);
        for (int64_t i = 0; i < r; ++i)
          inverse[perm[i]] = i;
        give(a, [&] { return transpose(dy, inverse); });
        return success();
      })
      .Case([&](OnnxSoftmaxOp s) {
        int64_t axis = s.getAxis();
        if (axis < 0)
          axis += rankedOf(y).getRank();
        // dx = y * (dy - sum(dy * y, axis))
        give(a, [&] {
          Value dot = sumKeep(mul(dy, y), {axis});
          return mul(y, sub(dy, dot));
        });
        return success();
      })
      .Case([&](OnnxLogSoftmaxOp s) {
        int64_t axis = s.getAxis();
        if (axis < 0)
          axis += rankedOf(y).getRank();
        // dx = dy - exp(y) * sum(dy, axis)
        give(a, [&] {
          Value p = OnnxExpOp::create(b, loc, y.getType(), y);
          return sub(dy, mul(p, sumKeep(dy, {axis})));
        });
        return success();
      })
      .Case([&](OnnxGatherOp g) -> LogicalResult {
        int64_t axis = g.getAxis();
        if (axis != 0 && axis != -rankedOf(a).getRank())
          return failure(); // rows of a table only
        // d table = scatter-add of dy's rows at the indices.
        give(a, [&] { return scatterRows(a, c, dy); });
        return success();
      })
      .Case([&](OnnxWhereOp) {
        Value x = operand(1), z = operand(2);
        give(x, [&] {
          return unbroadcast(where(a, dy, scalar(dy, 0.0), dy.getType()), x);
        });
        give(z, [&] {
          return unbroadcast(where(a, scalar(dy, 0.0), dy, dy.getType()), z);
        });
        return success();
      })
      .Case([&](OnnxErfOp) {
        // d erf(x) = 2 / sqrt(pi) exp(-x^2)
        give(a, [&] {
          Value e = OnnxExpOp::create(b, loc, a.getType(), neg(mul(a, a)));
          return mul(dy, mul(e, scalar(a, 1.1283791670955126)));
        });
        return success();
      })
      .Case([&](OnnxSinOp) {
        give(a, [&] {
          return mul(dy, OnnxCosOp::create(b, loc, a.getType(), a).getResult());
        });
        return success();
      })
      .Case([&](OnnxCosOp) {
        give(a, [&] {
          return neg(
              mul(dy, OnnxSinOp::create(b, loc, a.getType(), a).getResult()));
        });
        return success();
      })
      .Case([&](OnnxExpandOp) {
        give(a, [&] { return unbroadcast(dy, a); });
        return success();
      })
      .Case([&](OnnxSliceOp sl) -> LogicalResult {
        // Constant starts/ends/axes, unit steps, static sliced dims.
        auto starts = constantInts(sl.getStarts()),
             ends = constantInts(sl.getEnds());
        std::optional<SmallVector<int64_t>> axes, steps;
        if (Value v = sl.getAxes())
          axes = constantInts(v);
        if (Value v = sl.getSteps())
          steps = constantInts(v);
        if (!starts || !ends || (sl.getAxes() && !axes) ||
            (sl.getSteps() && !steps) || starts->size() != ends->size() ||
            (axes && axes->size() != starts->size()) ||
            (steps && steps->size() != starts->size()))
          return failure();
        auto at = rankedOf(a);
        int64_t rank = at.getRank();
        SmallVector<int64_t> sliced(rank, -1); // index into starts, or -1
        for (size_t i = 0; i < starts->size(); ++i) {
          int64_t axis = axes ? (*axes)[i] : int64_t(i);
          if (axis < 0)
            axis += rank;
          if (axis < 0 || axis >= rank || (steps && (*steps)[i] != 1) ||
              sliced[axis] >= 0)
            return failure();
          sliced[axis] = int64_t(i);
        }
        // Pads [begin_0.., end_0..] = [start, dim - end] per sliced axis
        // (clamped as Slice clamps); computed at run time for dynamic dims.
        give(a, [&] {
          SmallVector<Value> begin, end;
          for (int64_t axis = 0; axis < rank; ++axis) {
            if (sliced[axis] < 0) {
              begin.push_back(i64s({0}));
              end.push_back(i64s({0}));
              continue;
            }
            Value dim = dimOf(a, axis);
            Value st = clampIndex((*starts)[sliced[axis]], dim);
            Value en = imax(clampIndex((*ends)[sliced[axis]], dim), st);
            begin.push_back(st);
            end.push_back(isub(dim, en));
          }
          begin.append(end);
          Value pads = OnnxConcatOp::create(
              b, loc, RankedTensorType::get({2 * rank}, b.getI64Type()), begin,
              b.getI64IntegerAttr(0));
          return OnnxPadOp::create(b, loc, a.getType(), dy, pads,
                                   scalar(a, 0.0),
                                   b.getStringAttr("constant"))
              .getResult();
        });
        return success();
      })
      .Case([&](OnnxConcatOp cat) -> LogicalResult {
        int64_t rank = rankedOf(y).getRank();
        int64_t axis = int64_t(cat.getAxis());
        if (axis < 0)
          axis += rank;
        // dX_i = dy[offset_i : offset_i + size_i] along the axis (sizes
        // from the types, or at run time from the inputs' shapes).
        int64_t offset = 0;
        Value dynamicOffset;
        for (Value in : op->getOperands()) {
          int64_t size = rankedOf(in).getDimSize(axis);
          bool dynamic = ShapedType::isDynamic(size) || dynamicOffset;
          if (dynamic && !dynamicOffset)
            dynamicOffset = i64s({offset});
          if (active.contains(in)) {
            if (!dynamic) {
              int64_t at = offset;
              give(in, [&] { return sliceAxis(dy, axis, at, at + size); });
            } else {
              Value start = dynamicOffset;
              give(in, [&] {
                return OnnxSliceOp::create(b, loc, in.getType(), dy, start,
                                           iadd(start, dimOf(in, axis)),
                                           i64s({axis}), Value())
                    .getResult();
              });
            }
          }
          if (dynamic)
            dynamicOffset = iadd(dynamicOffset, dimOf(in, axis));
          else
            offset += size;
        }
        return success();
      })
      .Case([&](OnnxSplitOp sp) -> LogicalResult {
        int64_t rank = rankedOf(a).getRank();
        int64_t axis = int64_t(sp.getAxis());
        if (axis < 0)
          axis += rank;
        for (Value r : op->getResults())
          if (rankedOf(r).isDynamicDim(axis))
            return failure();
        give(a, [&] {
          SmallVector<Value> parts;
          for (auto [r, d] : llvm::zip(op->getResults(), dys))
            parts.push_back(d ? d : zerosLike(r));
          return OnnxConcatOp::create(b, loc, a.getType(), parts,
                                      b.getI64IntegerAttr(axis))
              .getResult();
        });
        return success();
      })
      .Case([&](OnnxLayerNormalizationOp ln) -> LogicalResult {
        // Only the normalized output's adjoint (not Mean / InvStdDev).
        for (Value d : dys.drop_front())
          if (d)
            return failure();
        auto xt = rankedOf(a);
        int64_t rank = xt.getRank();
        int64_t axis = int64_t(ln.getAxis());
        if (axis < 0)
          axis += rank;
        if (axis < 0 || axis >= rank)
          return failure();
        SmallVector<int64_t> axes;
        int64_t count = 1;
        for (int64_t i = axis; i < rank; ++i) {
          if (xt.isDynamicDim(i))
            return failure();
          axes.push_back(i);
          count *= xt.getDimSize(i);
        }
        normGrad(a, operand(1), operand(2), axes, count,
                 ln.getEpsilon().convertToDouble(), /*centred=*/true, dy, give);
        return success();
      })
      .Case([&](OnnxCastOp) -> LogicalResult {
        if (!isFloatTensor(a))
          return failure();
        give(a, [&] {
          auto to = cast<FloatType>(rankedOf(a).getElementType());
          std::optional<int32_t> code = onnxDataTypeOf(to);
          return OnnxCastOp::create(b, loc, a.getType(), dy,
                                    b.getI64IntegerAttr(code ? *code : 1))
              .getResult();
        });
        return success();
      })
      .Case([&](LinearOp lin) -> LogicalResult {
        Value x = lin.getInput(), w = lin.getWeight(), bias = lin.getBias();
        if (lin.getActivationQuant() || rankedOf(x).getRank() < 2)
          return failure(); // W8A8, a 1-D input: not yet
        // A quantized weight is frozen: the input's adjoint reads its
        // dequantized value.
        bool quantized = !isa<FloatType>(rankedOf(w).getElementType());
        if (quantized && active.contains(w))
          return failure();
        Value wf = w;
        if (quantized && active.contains(x) && !(wf = dequantized(w)))
          return failure();
        // An NF4 base weight (QLoRA): dequantized again for the backward
        // (through barriers, so that CSE keeps the forward's temporary
        // from living until here), as bitsandbytes does.
        if (auto nf4 = w.getDefiningOp<NF4DequantizeOp>();
            nf4 && active.contains(x))
          wf = NF4DequantizeOp::create(
              b, loc, w.getType(),
              RecomputeBarrierOp::create(b, loc, nf4.getCodes().getType(),
                                         nf4.getCodes()),
              RecomputeBarrierOp::create(b, loc, nf4.getAbsmax().getType(),
                                         nf4.getAbsmax()),
              nf4.getBlockSizeAttr());
        auto wt = rankedOf(w);
        int64_t k = wt.getDimSize(0), n = wt.getDimSize(1);
        Type elem = rankedOf(dy).getElementType();
        // Rows: [M, K] and [M, N] views of the input and the adjoint.
        auto rows = [&](Value v, int64_t last) {
          auto type = RankedTensorType::get({ShapedType::kDynamic, last}, elem);
          return OnnxReshapeOp::create(b, loc, type, v, i64s({-1, last}),
                                       b.getI64IntegerAttr(0))
              .getResult();
        };
        give(x, [&] { return matmul(dy, transpose(wf, {1, 0})); });
        give(w, [&] {
          Value xt = transpose(rows(x, k), {1, 0});
          return matmul(xt, rows(dy, n));
        });
        give(bias, [&] {
          Value r = rows(dy, n);
          return OnnxReduceSumOp::create(
                     b, loc, bias.getType(), r, i64s({0}),
                     b.getI64IntegerAttr(0), b.getI64IntegerAttr(0))
              .getResult();
        });
        return success();
      })
      .Case([&](RMSNormOp n) -> LogicalResult {
        auto xt = rankedOf(a);
        int64_t d = xt.getDimSize(xt.getRank() - 1);
        if (ShapedType::isDynamic(d))
          return failure();
        normGrad(a, n.getWeight(), Value(), {xt.getRank() - 1}, d,
                 n.getEpsilon().convertToDouble(), /*centred=*/false, dy, give);
        return success();
      })
      .Case([&](LayerNormOp n) -> LogicalResult {
        auto xt = rankedOf(a);
        int64_t d = xt.getDimSize(xt.getRank() - 1);
        if (ShapedType::isDynamic(d))
          return failure();
        normGrad(a, n.getWeight(), n.getBias(), {xt.getRank() - 1}, d,
                 n.getEpsilon().convertToDouble(), /*centred=*/true, dy, give);
        return success();
      })
      .Case([&](RotaryOp r) -> LogicalResult {
        // y = x cos + rot(x) sin with rot linear and rot^T = -rot:
        // dx = dy cos - rot(dy sin); dcos = dy x; dsin = dy rot(x).
        int64_t d = rankedOf(a).getDimSize(rankedOf(a).getRank() - 1);
        if (ShapedType::isDynamic(d) || d % 2)
          return failure();
        Value cosv = r.getCos(), sinv = r.getSin();
        bool interleaved = r.getInterleaved();
        give(a, [&] {
          return sub(mul(dy, cosv), rotate(mul(dy, sinv), interleaved));
        });
        give(cosv, [&] { return unbroadcast(mul(dy, a), cosv); });
        give(sinv, [&] {
          return unbroadcast(mul(dy, rotate(a, interleaved)), sinv);
        });
        return success();
      })
      .Case([&](SiluOp) {
        give(a, [&] { return mul(dy, siluDerivative(a)); });
        return success();
      })
      .Case([&](SwiGLUOp) {
        // y = silu(gate) up
        give(a, [&] { return mul(mul(dy, c), siluDerivative(a)); });
        give(c, [&] {
          Value s = OnnxSigmoidOp::create(b, loc, a.getType(), a);
          return mul(dy, mul(a, s));
        });
        return success();
      })
      .Case([&](GeluOp g) -> LogicalResult {
        bool exact = g.getApproximate() == "none";
        if (!exact && g.getApproximate() != "tanh")
          return failure();
        give(a, [&] {
          if (exact) {
            // Phi(x) + x phi(x)
            Value e = OnnxErfOp::create(b, loc, a.getType(),
                                        mul(a, scalar(a, M_SQRT1_2)));
            Value cdf = mul(add(e, scalar(a, 1.0)), scalar(a, 0.5));
            Value pdf = mul(OnnxExpOp::create(b, loc, a.getType(),
                                              mul(mul(a, a), scalar(a, -0.5))),
                            scalar(a, 0.3989422804014327));
            return mul(dy, add(cdf, mul(a, pdf)));
          }
          // t = tanh(k (x + 0.044715 x^3)):
          // 0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3 * 0.044715 x^2)
          const double k = 0.7978845608028654;
          Value x2 = mul(a, a);
          Value inner =
              mul(add(a, mul(mul(x2, a), scalar(a, 0.044715))), scalar(a, k));
          Value t = OnnxTanhOp::create(b, loc, a.getType(), inner);
          Value left = mul(add(t, scalar(a, 1.0)), scalar(a, 0.5));
          Value dinner =
              mul(add(mul(x2, scalar(a, 3 * 0.044715)), scalar(a, 1.0)),
                  scalar(a, 0.5 * k));
          Value right = mul(mul(a, sub(scalar(a, 1.0), mul(t, t))), dinner);
          return mul(dy, add(left, right));
        });
        return success();
      })
      .Case([&](EmbeddingOp) {
        give(a, [&] { return scatterRows(a, c, dy); });
        return success();
      })
      .Case([&](AttentionOp att) -> LogicalResult {
        return attentionGrad(att, dy, active, give);
      })
      .Default([](Operation *) { return failure(); });
}

struct AutodiffPass : mlir::tailor::impl::TailorAutodiffBase<AutodiffPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    func::FuncOp fn = findEntry(module);
    if (!fn) {
      module.emitError("tailor-autodiff: the module has no public function "
                       "to differentiate");
      return signalPassFailure();
    }
    if (!fn.getBody().hasOneBlock()) {
      fn.emitError("tailor-autodiff: the function must have one block");
      return signalPassFailure();
    }
    auto ret = cast<func::ReturnOp>(fn.front().getTerminator());
    if (ret.getNumOperands() == 0) {
      fn.emitError("tailor-autodiff: the function returns no loss");
      return signalPassFailure();
    }
    Value loss = ret.getOperand(0);
    auto lossType = rankedOf(loss);
    if (!lossType || !isa<FloatType>(lossType.getElementType()) ||
        !lossType.hasStaticShape() || lossType.getNumElements() != 1) {
      fn.emitError("tailor-autodiff: the first result (the loss) must be a "
                   "floating-point tensor of one element, not ")
          << loss.getType();
      return signalPassFailure();
    }

    // The arguments to differentiate.
    auto nameOf = [&](unsigned i) -> std::string {
      if (auto n = fn.getArgAttrOfType<StringAttr>(i, "onnx.name"))
        return n.str();
      return "arg" + std::to_string(i);
    };
    SmallVector<unsigned> selected;
    if (wrt.empty()) {
      // The arguments tailor-peft made trainable, else every float one
      // but the data inputs a loss added (tailor.data).
      for (unsigned i = 0; i < fn.getNumArguments(); ++i)
        if (fn.getArgAttr(i, "tailor.trainable") &&
            isFloatTensor(fn.getArgument(i)))
          selected.push_back(i);
      if (selected.empty())
        for (unsigned i = 0; i < fn.getNumArguments(); ++i)
          if (isFloatTensor(fn.getArgument(i)) &&
              !fn.getArgAttr(i, "tailor.data"))
            selected.push_back(i);
    } else {
      for (const std::string &name : wrt) {
        std::optional<unsigned> found;
        for (unsigned i = 0; i < fn.getNumArguments(); ++i)
          if (nameOf(i) == name)
            found = i;
        if (!found) {
          fn.emitError("tailor-autodiff: no argument named '") << name << "'";
          return signalPassFailure();
        }
        if (llvm::is_contained(selected, *found)) {
          fn.emitError("tailor-autodiff: argument '")
              << name << "' is named twice in wrt";
          return signalPassFailure();
        }
        if (!isFloatTensor(fn.getArgument(*found))) {
          fn.emitError("tailor-autodiff: argument '")
              << name << "' is not a ranked floating-point tensor";
          return signalPassFailure();
        }
        selected.push_back(*found);
      }
    }
    if (selected.empty()) {
      fn.emitError("tailor-autodiff: no floating-point argument to "
                   "differentiate with respect to");
      return signalPassFailure();
    }

    // Forward activity: float values that depend on a selected argument.
    llvm::SetVector<Value> active;
    for (unsigned i : selected)
      active.insert(fn.getArgument(i));
    for (Operation &op : fn.front().without_terminator()) {
      bool in = llvm::any_of(op.getOperands(),
                             [&](Value v) { return active.contains(v); });
      if (op.getNumRegions() != 0) {
        // Values the regions capture count as operands.
        llvm::SetVector<Value> captured;
        getUsedValuesDefinedAbove(op.getRegions(), captured);
        in |= llvm::any_of(captured,
                           [&](Value v) { return active.contains(v); });
      }
      // A stop_gradient's result is a constant to the gradient.
      if (!in || isa<StopGradientOp>(op))
        continue;
      if (op.getNumRegions() != 0) {
        op.emitError("tailor-autodiff: '")
            << op.getName() << "' has regions; control flow is not "
            << "differentiated";
        return signalPassFailure();
      }
      for (Value r : op.getResults())
        if (isFloatTensor(r))
          active.insert(r);
    }

    OpBuilder b(ret);
    Location loc = fn.getLoc();
    Differentiator diff{b, loc, DenseMap<Value, Value>(), DenseMap<Value, Value>()};
    if (active.contains(loss))
      diff.adjoint[loss] = diff.constant(
          lossType, b.getFloatAttr(lossType.getElementType(), 1.0));
    SmallVector<Operation *> forward;
    for (Operation &op : fn.front().without_terminator())
      forward.push_back(&op);
    for (Operation *op : llvm::reverse(forward)) {
      SmallVector<Value> dys;
      for (Value r : op->getResults())
        dys.push_back(diff.of(r));
      if (llvm::none_of(dys, [](Value d) { return bool(d); }))
        continue;
      bool ok = (op->getNumResults() == 1 ||
                 isa<OnnxSplitOp, OnnxLayerNormalizationOp>(op)) &&
                (dys.front() || isa<OnnxSplitOp>(op));
      if (!ok || failed(diff.differentiate(op, dys, active))) {
        std::string node;
        if (auto name = dyn_cast<NameLoc>(op->getLoc()))
          node = (" (node '" + name.getName().getValue() + "')").str();
        op->emitError("tailor-autodiff: no gradient rule for '")
            << op->getName() << "'" << node
            << " in this form, on the path from the differentiated "
               "arguments to the loss";
        return signalPassFailure();
      }
      ++numAdjoints;
    }

    // The gradients become results.
    SmallVector<Value> results(ret.getOperands());
    SmallVector<Attribute> resultAttrs = resultAttrDicts(fn);
    for (unsigned i : selected) {
      Value arg = fn.getArgument(i);
      Value g = diff.of(arg);
      if (!g)
        g = diff.zerosLike(arg);
      results.push_back(g);
      resultAttrs.push_back(b.getDictionaryAttr(b.getNamedAttr(
          "onnx.name", b.getStringAttr("grad." + nameOf(i)))));
    }
    setResults(fn, results, resultAttrs);
  }
};
} // namespace
