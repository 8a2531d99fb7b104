//===- RaiseUtils.h - Matching helpers shared by the raise patterns -------===//

#ifndef TAILOR_LIB_TRANSFORMS_RAISEUTILS_H
#define TAILOR_LIB_TRANSFORMS_RAISEUTILS_H

#include "tailor/Dialect/Tailor.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/TypeUtilities.h"

#include <cmath>
#include <optional>

namespace mlir::tailor::raise {

/// The value of a one-element constant (any rank), as a double.
inline std::optional<double> scalarConstant(Value v) {
  ElementsAttr attr = getConstantElements(v);
  if (!attr || cast<ShapedType>(attr.getType()).getNumElements() != 1)
    return std::nullopt;
  DenseElementsAttr dense = toDenseElements(attr);
  if (!dense)
    return std::nullopt;
  Type e = dense.getElementType();
  if (isa<FloatType>(e))
    return (*dense.value_begin<APFloat>()).convertToDouble();
  if (auto i = dyn_cast<IntegerType>(e))
    return i.isUnsigned() ? (double)(*dense.value_begin<APInt>()).getZExtValue()
                          : (double)(*dense.value_begin<APInt>()).getSExtValue();
  return std::nullopt;
}

inline bool isScalar(Value v, double expected, double relTol = 1e-4) {
  std::optional<double> s = scalarConstant(v);
  return s && std::fabs(*s - expected) <= relTol * std::max(1.0, std::fabs(expected));
}

inline int64_t rankOf(Value v) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  return t ? t.getRank() : -1;
}

inline bool isFloatTensor(Value v) {
  return isa<FloatType>(getElementTypeOrSelf(v.getType()));
}

/// A constant float tensor of the given rank (a weight).
inline bool isWeight(Value v, int64_t rank) {
  return v.getDefiningOp<OnnxConstantOp>() && rankOf(v) == rank &&
         isFloatTensor(v);
}

/// `axis` names the last axis of a tensor of rank `rank` (-1 when unknown).
inline bool isLastAxis(int64_t axis, int64_t rank) {
  return axis == -1 || (rank > 0 && axis == rank - 1);
}

/// Calls fn(a, b) and then fn(b, a): for commutative ops.
template <typename Fn>
inline bool eitherOrder(Value a, Value b, Fn &&fn) {
  return fn(a, b) || fn(b, a);
}

/// ReduceMean over the last axis with keepdims (opset 13-17 form: `axes`
/// attribute).
inline bool isMeanOverLastAxis(Value v, Value &input) {
  auto mean = v.getDefiningOp<OnnxReduceMeanOp>();
  if (!mean || mean.getKeepdims() != 1 || !mean.getAxes() ||
      mean.getAxes()->size() != 1)
    return false;
  if (!isLastAxis((*mean.getAxes())[0], rankOf(mean.getData())))
    return false;
  input = mean.getData();
  return true;
}

/// x^2 as Pow(x, 2) or Mul(x, x).
inline bool isSquare(Value v, Value &x) {
  if (auto pow = v.getDefiningOp<OnnxPowOp>()) {
    if (!isScalar(pow.getY(), 2.0))
      return false;
    x = pow.getX();
    return true;
  }
  if (auto mul = v.getDefiningOp<OnnxMulOp>()) {
    if (mul.getA() != mul.getB())
      return false;
    x = mul.getA();
    return true;
  }
  return false;
}

/// sqrt(v + eps): Sqrt(Add(v, eps)).
inline bool isSqrtPlusEps(Value v, Value &inner, double &eps) {
  auto sqrt = v.getDefiningOp<OnnxSqrtOp>();
  if (!sqrt)
    return false;
  auto add = sqrt.getX().getDefiningOp<OnnxAddOp>();
  if (!add)
    return false;
  return eitherOrder(add.getA(), add.getB(), [&](Value a, Value b) {
    std::optional<double> e = scalarConstant(b);
    if (!e)
      return false;
    inner = a;
    eps = *e;
    return true;
  });
}

/// `v` is x / d, spelled Div(x, d), Mul(x, Reciprocal(d)) or
/// Mul(x, Div(1, d)).
inline bool isDivision(Value v, Value &x, Value &d) {
  if (auto div = v.getDefiningOp<OnnxDivOp>()) {
    x = div.getA();
    d = div.getB();
    return true;
  }
  auto mul = v.getDefiningOp<OnnxMulOp>();
  if (!mul)
    return false;
  return eitherOrder(mul.getA(), mul.getB(), [&](Value a, Value b) {
    if (auto rec = b.getDefiningOp<OnnxReciprocalOp>()) {
      x = a;
      d = rec.getX();
      return true;
    }
    if (auto div = b.getDefiningOp<OnnxDivOp>(); div && isScalar(div.getA(), 1.0)) {
      x = a;
      d = div.getB();
      return true;
    }
    return false;
  });
}

/// Flattens a tree of single-use Muls into its factors.
inline void collectFactors(Value v, SmallVectorImpl<Value> &factors,
                           bool root = true) {
  auto mul = v.getDefiningOp<OnnxMulOp>();
  if (mul && (root || v.hasOneUse()) && factors.size() < 8) {
    collectFactors(mul.getA(), factors, false);
    collectFactors(mul.getB(), factors, false);
    return;
  }
  factors.push_back(v);
}

/// The integer values of a small constant operand.
inline std::optional<SmallVector<int64_t>> ints(Value v) {
  if (!v)
    return std::nullopt;
  return getConstantIntValues(v, 64);
}

/// Pattern-set builders, one per file.
void populateRaiseLinearPatterns(RewritePatternSet &patterns);
void populateRaiseActivationPatterns(RewritePatternSet &patterns);
void populateRaiseNormPatterns(RewritePatternSet &patterns);
void populateRaiseRotaryPatterns(RewritePatternSet &patterns);
void populateRaiseAttentionPatterns(RewritePatternSet &patterns);
void populateRaiseMoEPatterns(RewritePatternSet &patterns);

} // namespace mlir::tailor::raise

#endif // TAILOR_LIB_TRANSFORMS_RAISEUTILS_H
