//===- Elementwise.cpp - Elementwise ONNX ops to linalg.generic -----------===//
//
// Arithmetic, math, activations, comparisons, logic, Where, Cast and Clip:
// one linalg.generic with numpy broadcasting (see buildElementwise) whose
// body is built per element type from the op's ONNX element types.

#include "Utils.h"

#include "mlir/Dialect/Math/IR/Math.h"

#include <cmath>
#include <functional>
#include <limits>

using namespace mlir;
using namespace mlir::tailor;
using namespace mlir::tailor::lowering;

namespace {
/// What a scalar body sees: the op, its scalar operands (signless) and their
/// ONNX element types, and the ONNX element type of the result.
struct Scalars {
  OpBuilder &b;
  Location loc;
  Operation *op;
  ValueRange args;
  ArrayRef<Type> types;
  Type result;

  Type type() const { return types.empty() ? result : types[0]; }
  bool isF() const { return isFloat(type()); }
  bool isU() const { return isUnsigned(type()) || isBool(type()); }
  Value constant(double v, Type t = {}) const {
    return scalarConstant(b, loc, t ? t : type(), v);
  }
  float attrF(StringRef name, float dflt) const {
    if (auto a = op->getAttrOfType<FloatAttr>(name))
      return a.getValueAsDouble();
    return dflt;
  }
  int64_t attrI(StringRef name, int64_t dflt) const {
    if (auto a = op->getAttrOfType<IntegerAttr>(name))
      return a.getInt();
    return dflt;
  }
};

using BodyFn = std::function<Value(Scalars &)>;

struct ElementwiseLowering : ConversionPattern {
  ElementwiseLowering(const TypeConverter &converter, MLIRContext *ctx,
                      StringRef opName, BodyFn body, unsigned numInputs = 0)
      : ConversionPattern(converter, opName, /*benefit=*/1, ctx),
        body(std::move(body)), numInputs(numInputs) {}

  LogicalResult
  matchAndRewrite(Operation *op, ArrayRef<Value> operands,
                  ConversionPatternRewriter &rewriter) const override {
    auto resultType = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(resultType))
      return failure();
    SmallVector<Type> types;
    for (Value v : operands) {
      if (!isa<RankedTensorType>(v.getType()))
        return rewriter.notifyMatchFailure(op, "operand is not ranked");
    }
    for (Value v : op->getOperands())
      types.push_back(elementTypeOf(v.getType()));
    Type result = elementTypeOf(op->getResult(0).getType());
    ArrayRef<Value> inputs = operands;
    if (numInputs)
      inputs = inputs.take_front(numInputs);
    Value value =
        buildElementwise(rewriter, op->getLoc(), *resultType, inputs,
                         [&](OpBuilder &b, Location loc, ValueRange args) {
                           Scalars s{b, loc, op, args, types, result};
                           return body(s);
                         });
    SmallVector<Value> results{value};
    // Optional extra results (Dropout's mask) are not produced here.
    if (op->getNumResults() != 1)
      return rewriter.notifyMatchFailure(op, "more than one result");
    rewriter.replaceOp(op, results);
    return success();
  }

  BodyFn body;
  unsigned numInputs; // 0: all operands take part
};

// Float, signed and unsigned variants of a binary arithmetic op.
template <typename FOp, typename SOp, typename UOp = SOp> BodyFn binary() {
  return [](Scalars &s) -> Value {
    if (s.isF())
      return FOp::create(s.b, s.loc, s.args[0], s.args[1]);
    if (s.isU())
      return UOp::create(s.b, s.loc, s.args[0], s.args[1]);
    return SOp::create(s.b, s.loc, s.args[0], s.args[1]);
  };
}

// A left fold of a binary body over all operands (Max, Min, Sum, Mean).
BodyFn variadic(BodyFn pairwise) {
  return [pairwise](Scalars &s) -> Value {
    Value acc = s.args[0];
    for (Value next : s.args.drop_front()) {
      SmallVector<Value> pair{acc, next};
      Scalars p{s.b, s.loc, s.op, pair, s.types, s.result};
      acc = pairwise(p);
    }
    return acc;
  };
}

template <typename FOp> BodyFn unaryF() {
  return [](Scalars &s) -> Value { return FOp::create(s.b, s.loc, s.args[0]); };
}

Value cmp(Scalars &s, arith::CmpFPredicate f, arith::CmpIPredicate si,
          arith::CmpIPredicate ui, Value a, Value b) {
  if (s.isF())
    return arith::CmpFOp::create(s.b, s.loc, f, a, b);
  return arith::CmpIOp::create(s.b, s.loc, s.isU() ? ui : si, a, b);
}

BodyFn compare(arith::CmpFPredicate f, arith::CmpIPredicate si,
               arith::CmpIPredicate ui) {
  return [=](Scalars &s) { return cmp(s, f, si, ui, s.args[0], s.args[1]); };
}

Value sigmoid(OpBuilder &b, Location loc, Value x) {
  Type t = x.getType();
  Value one = arith::ConstantOp::create(b, loc, t, b.getFloatAttr(t, 1.0));
  Value neg = arith::NegFOp::create(b, loc, x);
  Value e = math::ExpOp::create(b, loc, neg);
  Value d = arith::AddFOp::create(b, loc, one, e);
  return arith::DivFOp::create(b, loc, one, d);
}

Value powScalar(Scalars &s) {
  Type base = s.types[0], exp = s.types[1];
  Value x = s.args[0], y = s.args[1];
  if (isFloat(base)) {
    y = convertScalar(s.b, s.loc, y, exp, base);
    return math::PowFOp::create(s.b, s.loc, x, y);
  }
  // Integer base: through double (exact for the values ONNX tests use).
  Type f64 = s.b.getF64Type();
  Value xf = convertScalar(s.b, s.loc, x, base, f64);
  Value yf = convertScalar(s.b, s.loc, y, exp, f64);
  Value r = math::PowFOp::create(s.b, s.loc, xf, yf);
  return convertScalar(s.b, s.loc, r, f64, base);
}

Value modScalar(Scalars &s) {
  Value a = s.args[0], d = s.args[1];
  if (s.isF())
    return arith::RemFOp::create(s.b, s.loc, a, d); // fmod = 1 (required)
  if (s.isU())
    return arith::RemUIOp::create(s.b, s.loc, a, d);
  Value r = arith::RemSIOp::create(s.b, s.loc, a, d);
  if (s.attrI("fmod", 0))
    return r;
  // Python-style: the result takes the divisor's sign.
  Value zero = s.constant(0);
  Value rNonZero =
      arith::CmpIOp::create(s.b, s.loc, arith::CmpIPredicate::ne, r, zero);
  Value rNeg =
      arith::CmpIOp::create(s.b, s.loc, arith::CmpIPredicate::slt, r, zero);
  Value dNeg =
      arith::CmpIOp::create(s.b, s.loc, arith::CmpIPredicate::slt, d, zero);
  Value differ = arith::XOrIOp::create(s.b, s.loc, rNeg, dNeg);
  Value fix = arith::AndIOp::create(s.b, s.loc, rNonZero, differ);
  Value adjusted = arith::AddIOp::create(s.b, s.loc, r, d);
  return arith::SelectOp::create(s.b, s.loc, fix, adjusted, r);
}

Value clipScalar(Scalars &s) {
  auto clip = cast<OnnxClipOp>(s.op);
  Value x = s.args[0];
  unsigned next = 1;
  if (clip.getMin()) {
    Value lo = s.args[next++];
    Value below = cmp(s, arith::CmpFPredicate::OLT, arith::CmpIPredicate::slt,
                      arith::CmpIPredicate::ult, x, lo);
    x = arith::SelectOp::create(s.b, s.loc, below, lo, x);
  }
  if (clip.getMax()) {
    Value hi = s.args[next++];
    Value above = cmp(s, arith::CmpFPredicate::OGT, arith::CmpIPredicate::sgt,
                      arith::CmpIPredicate::ugt, x, hi);
    x = arith::SelectOp::create(s.b, s.loc, above, hi, x);
  }
  return x;
}

Value signScalar(Scalars &s) {
  Value x = s.args[0];
  Value zero = s.constant(0), one = s.constant(1);
  Value pos = cmp(s, arith::CmpFPredicate::OGT, arith::CmpIPredicate::sgt,
                  arith::CmpIPredicate::ugt, x, zero);
  if (s.isU())
    return arith::SelectOp::create(s.b, s.loc, pos, one, zero);
  Value minusOne = s.constant(-1);
  Value neg = cmp(s, arith::CmpFPredicate::OLT, arith::CmpIPredicate::slt,
                  arith::CmpIPredicate::ult, x, zero);
  Value r = arith::SelectOp::create(s.b, s.loc, neg, minusOne, zero);
  r = arith::SelectOp::create(s.b, s.loc, pos, one, r);
  if (s.isF()) { // NaN stays NaN
    Value nan =
        arith::CmpFOp::create(s.b, s.loc, arith::CmpFPredicate::UNO, x, x);
    r = arith::SelectOp::create(s.b, s.loc, nan, x, r);
  }
  return r;
}
} // namespace

void lowering::populateElementwisePatterns(const TypeConverter &converter,
                                           RewritePatternSet &patterns) {
  MLIRContext *ctx = patterns.getContext();
  auto add = [&](StringRef name, BodyFn fn, unsigned numInputs = 0) {
    patterns.add<ElementwiseLowering>(converter, ctx, name, std::move(fn),
                                      numInputs);
  };
  using P = arith::CmpFPredicate;
  using I = arith::CmpIPredicate;

  add(OnnxAddOp::getOperationName(), binary<arith::AddFOp, arith::AddIOp>());
  add(OnnxSubOp::getOperationName(), binary<arith::SubFOp, arith::SubIOp>());
  add(OnnxMulOp::getOperationName(), binary<arith::MulFOp, arith::MulIOp>());
  add(OnnxDivOp::getOperationName(),
      binary<arith::DivFOp, arith::DivSIOp, arith::DivUIOp>());
  add(OnnxModOp::getOperationName(), modScalar);
  add(OnnxPowOp::getOperationName(), powScalar);
  BodyFn max = binary<arith::MaximumFOp, arith::MaxSIOp, arith::MaxUIOp>();
  BodyFn min = binary<arith::MinimumFOp, arith::MinSIOp, arith::MinUIOp>();
  BodyFn sum = binary<arith::AddFOp, arith::AddIOp>();
  add(OnnxMaxOp::getOperationName(), variadic(max));
  add(OnnxMinOp::getOperationName(), variadic(min));
  add(OnnxSumOp::getOperationName(), variadic(sum));
  add(OnnxMeanOp::getOperationName(), [sum](Scalars &s) -> Value {
    Value total = variadic(sum)(s);
    Value n = s.constant(s.args.size());
    return arith::DivFOp::create(s.b, s.loc, total, n);
  });

  add(OnnxAbsOp::getOperationName(), [](Scalars &s) -> Value {
    if (s.isF())
      return math::AbsFOp::create(s.b, s.loc, s.args[0]);
    if (s.isU())
      return s.args[0];
    return math::AbsIOp::create(s.b, s.loc, s.args[0]);
  });
  add(OnnxNegOp::getOperationName(), [](Scalars &s) -> Value {
    if (s.isF())
      return arith::NegFOp::create(s.b, s.loc, s.args[0]);
    return arith::SubIOp::create(s.b, s.loc, s.constant(0), s.args[0]);
  });
  add(OnnxCeilOp::getOperationName(), unaryF<math::CeilOp>());
  add(OnnxFloorOp::getOperationName(), unaryF<math::FloorOp>());
  // ONNX Round: to nearest, ties to even.
  add(OnnxRoundOp::getOperationName(), unaryF<math::RoundEvenOp>());
  add(OnnxSqrtOp::getOperationName(), unaryF<math::SqrtOp>());
  add(OnnxExpOp::getOperationName(), unaryF<math::ExpOp>());
  add(OnnxLogOp::getOperationName(), unaryF<math::LogOp>());
  add(OnnxSinOp::getOperationName(), unaryF<math::SinOp>());
  add(OnnxCosOp::getOperationName(), unaryF<math::CosOp>());
  add(OnnxTanhOp::getOperationName(), unaryF<math::TanhOp>());
  add(OnnxErfOp::getOperationName(), unaryF<math::ErfOp>());
  add(OnnxReciprocalOp::getOperationName(), [](Scalars &s) -> Value {
    return arith::DivFOp::create(s.b, s.loc, s.constant(1), s.args[0]);
  });
  add(OnnxSigmoidOp::getOperationName(),
      [](Scalars &s) -> Value { return sigmoid(s.b, s.loc, s.args[0]); });
  add(OnnxReluOp::getOperationName(), [](Scalars &s) -> Value {
    Value zero = s.constant(0);
    Value neg = cmp(s, P::OLT, I::slt, I::ult, s.args[0], zero);
    return arith::SelectOp::create(s.b, s.loc, neg, zero, s.args[0]);
  });
  add(OnnxLeakyReluOp::getOperationName(), [](Scalars &s) -> Value {
    Value x = s.args[0];
    Value scaled = arith::MulFOp::create(s.b, s.loc, x,
                                         s.constant(s.attrF("alpha", 0.01f)));
    Value neg = cmp(s, P::OLT, I::slt, I::ult, x, s.constant(0));
    return arith::SelectOp::create(s.b, s.loc, neg, scaled, x);
  });
  add(OnnxEluOp::getOperationName(), [](Scalars &s) -> Value {
    Value x = s.args[0];
    Value e = math::ExpOp::create(s.b, s.loc, x);
    Value em1 = arith::SubFOp::create(s.b, s.loc, e, s.constant(1));
    Value neg = arith::MulFOp::create(s.b, s.loc, em1,
                                      s.constant(s.attrF("alpha", 1.0f)));
    Value isNeg = cmp(s, P::OLT, I::slt, I::ult, x, s.constant(0));
    return arith::SelectOp::create(s.b, s.loc, isNeg, neg, x);
  });
  add(OnnxSeluOp::getOperationName(), [](Scalars &s) -> Value {
    Value x = s.args[0];
    Value alpha = s.constant(s.attrF("alpha", 1.67326319217681884765625f));
    Value gamma = s.constant(s.attrF("gamma", 1.05070102214813232421875f));
    Value e = math::ExpOp::create(s.b, s.loc, x);
    Value ae = arith::MulFOp::create(s.b, s.loc, alpha, e);
    Value neg = arith::SubFOp::create(s.b, s.loc, ae, alpha);
    Value isPos = cmp(s, P::OGT, I::sgt, I::ugt, x, s.constant(0));
    Value v = arith::SelectOp::create(s.b, s.loc, isPos, x, neg);
    return arith::MulFOp::create(s.b, s.loc, gamma, v);
  });
  add(OnnxHardSigmoidOp::getOperationName(), [](Scalars &s) -> Value {
    Value x = s.args[0];
    Value ax = arith::MulFOp::create(s.b, s.loc, x,
                                     s.constant(s.attrF("alpha", 0.2f)));
    Value v = arith::AddFOp::create(s.b, s.loc, ax,
                                    s.constant(s.attrF("beta", 0.5f)));
    v = arith::MaximumFOp::create(s.b, s.loc, v, s.constant(0));
    return arith::MinimumFOp::create(s.b, s.loc, v, s.constant(1));
  });
  add(OnnxSoftplusOp::getOperationName(), [](Scalars &s) -> Value {
    // max(x, 0) + log1p(exp(-|x|)): no overflow for large x.
    Value x = s.args[0];
    Value abs = math::AbsFOp::create(s.b, s.loc, x);
    Value e = math::ExpOp::create(s.b, s.loc,
                                  arith::NegFOp::create(s.b, s.loc, abs));
    Value pos = arith::MaximumFOp::create(s.b, s.loc, x, s.constant(0.0));
    return arith::AddFOp::create(s.b, s.loc, pos,
                                 math::Log1pOp::create(s.b, s.loc, e));
  });
  add(OnnxSignOp::getOperationName(), signScalar);
  add(OnnxClipOp::getOperationName(), clipScalar);
  add(OnnxIsNaNOp::getOperationName(), [](Scalars &s) -> Value {
    return arith::CmpFOp::create(s.b, s.loc, P::UNO, s.args[0], s.args[0]);
  });
  add(OnnxIsInfOp::getOperationName(), [](Scalars &s) -> Value {
    Value x = s.args[0];
    double inf = std::numeric_limits<double>::infinity();
    Value isPos = arith::CmpFOp::create(s.b, s.loc, P::OEQ, x, s.constant(inf));
    Value isNeg =
        arith::CmpFOp::create(s.b, s.loc, P::OEQ, x, s.constant(-inf));
    Value f = arith::ConstantIntOp::create(s.b, s.loc, s.b.getI1Type(), 0);
    Value r = s.attrI("detect_positive", 1) ? isPos : f;
    if (s.attrI("detect_negative", 1))
      r = arith::OrIOp::create(s.b, s.loc, r, isNeg);
    return r;
  });

  add(OnnxEqualOp::getOperationName(), compare(P::OEQ, I::eq, I::eq));
  add(OnnxLessOp::getOperationName(), compare(P::OLT, I::slt, I::ult));
  add(OnnxLessOrEqualOp::getOperationName(), compare(P::OLE, I::sle, I::ule));
  add(OnnxGreaterOp::getOperationName(), compare(P::OGT, I::sgt, I::ugt));
  add(OnnxGreaterOrEqualOp::getOperationName(),
      compare(P::OGE, I::sge, I::uge));
  add(OnnxAndOp::getOperationName(), [](Scalars &s) -> Value {
    return arith::AndIOp::create(s.b, s.loc, s.args[0], s.args[1]);
  });
  add(OnnxOrOp::getOperationName(), [](Scalars &s) -> Value {
    return arith::OrIOp::create(s.b, s.loc, s.args[0], s.args[1]);
  });
  add(OnnxXorOp::getOperationName(), [](Scalars &s) -> Value {
    return arith::XOrIOp::create(s.b, s.loc, s.args[0], s.args[1]);
  });
  add(OnnxNotOp::getOperationName(), [](Scalars &s) -> Value {
    Value t = arith::ConstantIntOp::create(s.b, s.loc, s.b.getI1Type(), 1);
    return arith::XOrIOp::create(s.b, s.loc, s.args[0], t);
  });
  add(OnnxWhereOp::getOperationName(), [](Scalars &s) -> Value {
    return arith::SelectOp::create(s.b, s.loc, s.args[0], s.args[1], s.args[2]);
  });
  auto cast = [](Scalars &s) -> Value {
    return convertScalar(s.b, s.loc, s.args[0], s.types[0], s.result);
  };
  add(OnnxCastOp::getOperationName(), cast);
  // CastLike's second operand only names the type.
  add(OnnxCastLikeOp::getOperationName(), cast, /*numInputs=*/1);
}
