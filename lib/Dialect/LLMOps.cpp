//===- LLMOps.cpp - Verifiers and type inference of the LLM-level ops -----===//

#include "tailor/Dialect/Tailor.h"

#include "mlir/Dialect/Quant/IR/QuantTypes.h"
#include "mlir/Dialect/Traits.h"
#include "mlir/IR/TypeUtilities.h"

#include <cmath>

using namespace mlir;
using namespace mlir::tailor;

namespace {
int64_t dim(Type t, int64_t i) {
  auto r = dyn_cast<RankedTensorType>(t);
  if (!r)
    return ShapedType::kDynamic;
  return r.getDimSize(i < 0 ? r.getRank() + i : i);
}
bool hasRank(Type t) { return cast<TensorType>(t).hasRank(); }
int64_t rank(Type t) { return cast<TensorType>(t).getRank(); }
bool mismatch(int64_t a, int64_t b) {
  return !ShapedType::isDynamic(a) && !ShapedType::isDynamic(b) && a != b;
}

/// All operands (null ones skipped) and the result share an element type.
LogicalResult verifySameElementType(Operation *op, ValueRange values) {
  Type expected = getElementTypeOrSelf(op->getResult(0).getType());
  for (Value v : values)
    if (v && getElementTypeOrSelf(v.getType()) != expected)
      return op->emitOpError("operand element type ")
             << getElementTypeOrSelf(v.getType())
             << " differs from the result element type " << expected;
  return success();
}

/// `weight` is a vector [D] whose size matches the last dim of `input`.
LogicalResult verifyFeatureVector(Operation *op, Value input, Value weight,
                                  StringRef name) {
  if (!weight)
    return success();
  if (hasRank(weight.getType()) && rank(weight.getType()) != 1)
    return op->emitOpError() << name << " must be 1-D, got "
                             << weight.getType();
  if (hasRank(input.getType()) && rank(input.getType()) == 0)
    return op->emitOpError("input must have at least one dimension");
  if (mismatch(dim(input.getType(), -1), dim(weight.getType(), 0)))
    return op->emitOpError() << name << " has " << dim(weight.getType(), 0)
                             << " features but the input's last dimension is "
                             << dim(input.getType(), -1);
  return success();
}

/// A result that has the type of `like` (refined with the declared type).
LogicalResult sameAs(Operation *op, Type like, SmallVectorImpl<Type> &types) {
  Type refined = refineTensorType(op->getResult(0).getType(), like);
  if (!refined)
    return op->emitOpError("result type ")
           << op->getResult(0).getType() << " is incompatible with " << like;
  types.assign({refined});
  return success();
}

LogicalResult shaped(Operation *op, Type elementType, ArrayRef<int64_t> dims,
                     bool ranked, SmallVectorImpl<Type> &types) {
  Type inferred = ranked ? Type(RankedTensorType::get(dims, elementType))
                         : Type(UnrankedTensorType::get(elementType));
  return sameAs(op, inferred, types);
}
} // namespace

//===----------------------------------------------------------------------===//
// linear
//===----------------------------------------------------------------------===//

LogicalResult LinearOp::verify() {
  Type w = getWeight().getType();
  if (auto q = dyn_cast<quant::QuantizedType>(getElementTypeOrSelf(w))) {
    if (q.getExpressedType() != getElementTypeOrSelf(getType()))
      return emitOpError("quantized weight expresses ")
             << q.getExpressedType() << ", the result is "
             << getElementTypeOrSelf(getType());
    auto perAxis = dyn_cast<quant::UniformQuantizedPerAxisType>(q);
    auto sub = dyn_cast<quant::UniformQuantizedSubChannelType>(q);
    bool perColumn = perAxis && perAxis.getQuantizedDimension() == 1;
    bool grouped = sub && sub.getQuantizedDimensions().size() == 2 &&
                   sub.getQuantizedDimensions()[0] == 0 &&
                   sub.getQuantizedDimensions()[1] == 1 &&
                   sub.getBlockSizes()[1] == 1;
    if (!perColumn && !grouped)
      return emitOpError("a quantized weight must be quantized per output "
                         "channel (axis 1) or per group of input rows "
                         "({0:G, 1:1}), got ")
             << q;
    if (failed(verifySameElementType(*this, {getInput(), getBias()})))
      return failure();
    if (auto act = getActivationQuant()) {
      if (*act != "int8_per_token")
        return emitOpError("unknown activation_quant \"")
               << *act << "\" (known: \"int8_per_token\")";
      if (!perColumn || !q.getStorageType().isInteger(8))
        return emitOpError("activation_quant \"int8_per_token\" needs an "
                           "i8 weight quantized per output channel, got ")
               << q;
    }
  } else if (getActivationQuant()) {
    return emitOpError("activation_quant needs a quantized weight");
  } else if (failed(verifySameElementType(
                 *this, {getInput(), getWeight(), getBias()}))) {
    return failure();
  }
  if (hasRank(w) && rank(w) != 2)
    return emitOpError("weight must be 2-D [in, out], got ") << w;
  if (hasRank(getInput().getType()) && rank(getInput().getType()) == 0)
    return emitOpError("input must have at least one dimension");
  if (mismatch(dim(getInput().getType(), -1), dim(w, 0)))
    return emitOpError("input has ")
           << dim(getInput().getType(), -1) << " features but weight expects "
           << dim(w, 0);
  if (getBias()) {
    Type b = getBias().getType();
    if (hasRank(b) && rank(b) != 1)
      return emitOpError("bias must be 1-D [out], got ") << b;
    if (mismatch(dim(b, 0), dim(w, 1)))
      return emitOpError("bias has ") << dim(b, 0) << " elements but weight has "
                                      << dim(w, 1) << " outputs";
  }
  SmallVector<Type> types;
  return inferResultTypes(types);
}

LogicalResult LinearOp::inferResultTypes(SmallVectorImpl<Type> &types) {
  Type in = getInput().getType();
  Type elt = getElementTypeOrSelf(in);
  if (!hasRank(in))
    return shaped(*this, elt, {}, false, types);
  SmallVector<int64_t> dims(cast<RankedTensorType>(in).getShape());
  dims.back() = dim(getWeight().getType(), 1);
  return shaped(*this, elt, dims, true, types);
}

//===----------------------------------------------------------------------===//
// attention
//===----------------------------------------------------------------------===//

double AttentionOp::getEffectiveScale() {
  if (auto scale = getScaleAttr())
    return scale.getValueAsDouble();
  int64_t d = dim(getQuery().getType(), -1);
  return ShapedType::isDynamic(d) ? 0.0 : 1.0 / std::sqrt((double)d);
}

LogicalResult AttentionOp::verify() {
  if (failed(verifySameElementType(*this, {getQuery(), getKey(), getValue(),
                                           getPastKey(), getPastValue()})))
    return failure();
  for (Value v : {getQuery(), getKey(), getValue(), getPastKey(),
                  getPastValue()})
    if (v && hasRank(v.getType()) && rank(v.getType()) != 4)
      return emitOpError("query, key, value and past key/value must be 4-D "
                         "[batch, heads, sequence, head_dim], got ")
             << v.getType();
  Type q = getQuery().getType(), k = getKey().getType(), v = getValue().getType();
  if (mismatch(dim(q, 3), dim(k, 3)))
    return emitOpError("query head size ")
           << dim(q, 3) << " differs from key head size " << dim(k, 3);
  if (mismatch(dim(k, 1), dim(v, 1)) || mismatch(dim(k, 2), dim(v, 2)))
    return emitOpError("key and value disagree on heads or sequence length");
  int64_t hq = dim(q, 1), hkv = dim(k, 1);
  if (!ShapedType::isDynamic(hq) && !ShapedType::isDynamic(hkv) &&
      (hkv == 0 || hq % hkv != 0))
    return emitOpError("query heads (")
           << hq << ") must be a multiple of key/value heads (" << hkv << ")";
  for (Value b : {getKey(), getValue(), getPastKey(), getPastValue()})
    if (b && mismatch(dim(q, 0), dim(b.getType(), 0)))
      return emitOpError("batch sizes of query and key/value differ");
  if (Value pk = getPastKey()) {
    if (mismatch(dim(pk.getType(), 1), hkv) ||
        mismatch(dim(pk.getType(), 3), dim(k, 3)) ||
        mismatch(dim(getPastValue().getType(), 3), dim(v, 3)))
      return emitOpError("past key/value do not match key/value heads or "
                         "head sizes");
  }
  if (Value m = getMask()) {
    auto mt = dyn_cast<RankedTensorType>(m.getType());
    Type me = getElementTypeOrSelf(m.getType());
    if (!me.isInteger(1) && me != getElementTypeOrSelf(q))
      return emitOpError("mask must be boolean or of the query's element type");
    if (mt && mt.getRank() > 4)
      return emitOpError("mask has rank ") << mt.getRank() << " > 4";
  }
  if (auto scale = getScaleAttr(); scale && !(scale.getValueAsDouble() > 0))
    return emitOpError("scale must be positive");
  SmallVector<Type> types;
  return inferResultTypes(types);
}

LogicalResult AttentionOp::inferResultTypes(SmallVectorImpl<Type> &types) {
  Type q = getQuery().getType();
  Type elt = getElementTypeOrSelf(q);
  if (!hasRank(q))
    return shaped(*this, elt, {}, false, types);
  return shaped(*this, elt,
                {dim(q, 0), dim(q, 1), dim(q, 2), dim(getValue().getType(), 3)},
                true, types);
}

//===----------------------------------------------------------------------===//
// Norms, rotary, activations
//===----------------------------------------------------------------------===//

LogicalResult FakeQuantOp::verify() {
  auto type = dyn_cast<RankedTensorType>(getWeight().getType());
  if (!type || type.getRank() != 2)
    return emitOpError("expects a [K, N] weight");
  if (type.getDimSize(0) == 0)
    return emitOpError("expects K > 0");
  if (getBits() != 8 && getBits() != 4)
    return emitOpError("bits must be 8 or 4, not ") << getBits();
  if (getBits() == 8 && (getGroupSize() != 0 || !getSymmetric()))
    return emitOpError("8 bits are per output column and symmetric "
                       "(group_size 0)");
  if (getBits() == 4) {
    if (getGroupSize() <= 0)
      return emitOpError("4 bits need group_size > 0");
    if (!type.isDynamicDim(0) && type.getDimSize(0) % getGroupSize() != 0)
      return emitOpError("group_size ")
             << getGroupSize() << " does not divide K = " << type.getDimSize(0);
  }
  SmallVector<Type> types;
  return inferResultTypes(types);
}
LogicalResult FakeQuantOp::inferResultTypes(SmallVectorImpl<Type> &types) {
  return sameAs(*this, getWeight().getType(), types);
}

LogicalResult NF4DequantizeOp::verify() {
  auto codes = dyn_cast<RankedTensorType>(getCodes().getType());
  auto absmax = dyn_cast<RankedTensorType>(getAbsmax().getType());
  if (!codes || !absmax || codes.getRank() != 2 || absmax.getRank() != 2 ||
      !codes.hasStaticShape() || !absmax.hasStaticShape())
    return emitOpError("expects static codes [K / 2, N] and absmax "
                       "[K / block_size, N]");
  int64_t bs = getBlockSize(), k = 2 * codes.getDimSize(0),
          n = codes.getDimSize(1);
  if (bs <= 0 || bs % 2)
    return emitOpError("block_size must be positive and even, not ") << bs;
  if (k == 0 || k % bs)
    return emitOpError("block_size ") << bs << " does not divide K = " << k;
  if (absmax.getDimSize(0) != k / bs || absmax.getDimSize(1) != n)
    return emitOpError("absmax must be [")
           << k / bs << ", " << n << "] (blocks of " << bs << " rows)";
  SmallVector<Type> types;
  return inferResultTypes(types);
}
LogicalResult NF4DequantizeOp::inferResultTypes(SmallVectorImpl<Type> &types) {
  auto codes = cast<RankedTensorType>(getCodes().getType());
  return shaped(*this, Float32Type::get(getContext()),
                {2 * codes.getDimSize(0), codes.getDimSize(1)}, true, types);
}

LogicalResult RMSNormOp::verify() {
  if (failed(verifySameElementType(*this, {getInput(), getWeight()})) ||
      failed(verifyFeatureVector(*this, getInput(), getWeight(), "weight")))
    return failure();
  SmallVector<Type> types;
  return inferResultTypes(types);
}
LogicalResult RMSNormOp::inferResultTypes(SmallVectorImpl<Type> &types) {
  return sameAs(*this, getInput().getType(), types);
}

LogicalResult LayerNormOp::verify() {
  if (failed(verifySameElementType(*this, {getInput(), getWeight(), getBias()})) ||
      failed(verifyFeatureVector(*this, getInput(), getWeight(), "weight")) ||
      failed(verifyFeatureVector(*this, getInput(), getBias(), "bias")))
    return failure();
  SmallVector<Type> types;
  return inferResultTypes(types);
}
LogicalResult LayerNormOp::inferResultTypes(SmallVectorImpl<Type> &types) {
  return sameAs(*this, getInput().getType(), types);
}

LogicalResult RotaryOp::verify() {
  if (failed(verifySameElementType(*this, {getInput(), getCos(), getSin()})))
    return failure();
  int64_t d = dim(getInput().getType(), -1);
  if (hasRank(getInput().getType()) && rank(getInput().getType()) < 2)
    return emitOpError("input must be at least 2-D [..., sequence, head_dim]");
  if (!ShapedType::isDynamic(d) && d % 2 != 0)
    return emitOpError("head dimension must be even, got ") << d;
  for (Value t : {getCos(), getSin()}) {
    SmallVector<int64_t> ignored;
    auto a = dyn_cast<RankedTensorType>(getInput().getType());
    auto b = dyn_cast<RankedTensorType>(t.getType());
    if (a && b &&
        (b.getRank() > a.getRank() ||
         !OpTrait::util::getBroadcastedShape(a.getShape(), b.getShape(),
                                             ignored)))
      return emitOpError("cos/sin of type ")
             << t.getType() << " do not broadcast to the input " << a;
  }
  SmallVector<Type> types;
  return inferResultTypes(types);
}
LogicalResult RotaryOp::inferResultTypes(SmallVectorImpl<Type> &types) {
  return sameAs(*this, getInput().getType(), types);
}

LogicalResult GeluOp::verify() {
  if (getApproximate() != "none" && getApproximate() != "tanh")
    return emitOpError("approximate must be \"none\" or \"tanh\", got \"")
           << getApproximate() << "\"";
  if (failed(verifySameElementType(*this, {getInput()})))
    return failure();
  SmallVector<Type> types;
  return inferResultTypes(types);
}
LogicalResult GeluOp::inferResultTypes(SmallVectorImpl<Type> &types) {
  return sameAs(*this, getInput().getType(), types);
}

LogicalResult SiluOp::verify() {
  if (failed(verifySameElementType(*this, {getInput()})))
    return failure();
  SmallVector<Type> types;
  return inferResultTypes(types);
}
LogicalResult SiluOp::inferResultTypes(SmallVectorImpl<Type> &types) {
  return sameAs(*this, getInput().getType(), types);
}

LogicalResult SwiGLUOp::verify() {
  if (failed(verifySameElementType(*this, {getGate(), getUp()})))
    return failure();
  if (!refineTensorType(getGate().getType(), getUp().getType()))
    return emitOpError("gate ") << getGate().getType() << " and up "
                                << getUp().getType() << " differ in shape";
  SmallVector<Type> types;
  return inferResultTypes(types);
}
LogicalResult SwiGLUOp::inferResultTypes(SmallVectorImpl<Type> &types) {
  return sameAs(*this,
                refineTensorType(getGate().getType(), getUp().getType()),
                types);
}

LogicalResult EmbeddingOp::verify() {
  Type table = getElementTypeOrSelf(getTable().getType());
  if (auto q = dyn_cast<quant::QuantizedType>(table)) {
    auto perAxis = dyn_cast<quant::UniformQuantizedPerAxisType>(q);
    if (!perAxis || perAxis.getQuantizedDimension() != 0)
      return emitOpError("a quantized table must be quantized per row "
                         "(axis 0), got ")
             << q;
    if (q.getExpressedType() != getElementTypeOrSelf(getType()))
      return emitOpError("quantized table expresses ")
             << q.getExpressedType() << ", the result is "
             << getElementTypeOrSelf(getType());
  } else if (!isa<FloatType>(table)) {
    return emitOpError("table must be a float or quantized tensor, got ")
           << getTable().getType();
  } else if (failed(verifySameElementType(*this, {getTable()}))) {
    return failure();
  }
  if (hasRank(getTable().getType()) && rank(getTable().getType()) != 2)
    return emitOpError("table must be 2-D [vocab, dim], got ")
           << getTable().getType();
  SmallVector<Type> types;
  return inferResultTypes(types);
}
LogicalResult EmbeddingOp::inferResultTypes(SmallVectorImpl<Type> &types) {
  Type elt = getElementTypeOrSelf(getTable().getType());
  if (auto q = dyn_cast<quant::QuantizedType>(elt))
    elt = q.getExpressedType();
  auto ids = dyn_cast<RankedTensorType>(getIndices().getType());
  if (!ids)
    return shaped(*this, elt, {}, false, types);
  SmallVector<int64_t> dims(ids.getShape());
  dims.push_back(dim(getTable().getType(), 1));
  return shaped(*this, elt, dims, true, types);
}

LogicalResult MoEOp::verify() {
  if (failed(verifySameElementType(
          *this, {getInput(), getRouter(), getWGate(), getWUp(), getWDown()})))
    return failure();
  Type r = getRouter().getType(), g = getWGate().getType(),
       u = getWUp().getType(), dn = getWDown().getType();
  if ((hasRank(r) && rank(r) != 2) || (hasRank(g) && rank(g) != 3) ||
      (hasRank(u) && rank(u) != 3) || (hasRank(dn) && rank(dn) != 3))
    return emitOpError("router must be 2-D [D, E] and expert weights 3-D");
  int64_t d = dim(getInput().getType(), -1), e = dim(r, 1);
  if (mismatch(dim(r, 0), d) || mismatch(dim(g, 1), d) ||
      mismatch(dim(u, 1), d) || mismatch(dim(dn, 2), d))
    return emitOpError("model dimension differs between input and weights");
  if (mismatch(dim(g, 0), e) || mismatch(dim(u, 0), e) ||
      mismatch(dim(dn, 0), e))
    return emitOpError("expert count differs between router and experts");
  if (mismatch(dim(g, 2), dim(u, 2)) || mismatch(dim(g, 2), dim(dn, 1)))
    return emitOpError("expert hidden size differs between gate, up and down");
  if (!ShapedType::isDynamic(e) && (int64_t)getTopK() > e)
    return emitOpError("top_k (") << getTopK() << ") exceeds the expert count ("
                                  << e << ")";
  SmallVector<Type> types;
  return inferResultTypes(types);
}
LogicalResult MoEOp::inferResultTypes(SmallVectorImpl<Type> &types) {
  return sameAs(*this, getInput().getType(), types);
}
