//===- Utils.cpp - Helpers shared by the tailor -> linalg patterns --------===//

#include "Utils.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

using namespace mlir;
using namespace mlir::tailor;
using namespace mlir::tailor::lowering;

Type lowering::elementTypeOf(Type type) {
  if (auto shaped = dyn_cast<ShapedType>(type))
    return shaped.getElementType();
  return type;
}

Type lowering::signlessType(Type elementType) {
  if (auto i = dyn_cast<IntegerType>(elementType))
    if (!i.isSignless())
      return IntegerType::get(i.getContext(), i.getWidth());
  return elementType;
}

Value lowering::convertScalar(OpBuilder &b, Location loc, Value value,
                              Type from, Type to) {
  if (from == to)
    return value;
  Type target = signlessType(to);
  if (isBool(to)) {
    if (isFloat(from)) {
      Value zero =
          arith::ConstantOp::create(b, loc, from, b.getFloatAttr(from, 0.0));
      return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNE, value,
                                   zero);
    }
    Value zero = arith::ConstantIntOp::create(b, loc, value.getType(), 0);
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, value, zero);
  }
  bool fromUnsigned = isUnsigned(from) || isBool(from);
  if (isFloat(from) && isFloat(to)) {
    unsigned fw = from.getIntOrFloatBitWidth(), tw = to.getIntOrFloatBitWidth();
    if (fw < tw)
      return arith::ExtFOp::create(b, loc, target, value);
    if (fw > tw)
      return arith::TruncFOp::create(b, loc, target, value);
    // Same width, different format (f16 <-> bf16): through f32.
    Value wide = arith::ExtFOp::create(b, loc, b.getF32Type(), value);
    return arith::TruncFOp::create(b, loc, target, wide);
  }
  if (isFloat(to)) {
    if (fromUnsigned)
      return arith::UIToFPOp::create(b, loc, target, value);
    return arith::SIToFPOp::create(b, loc, target, value);
  }
  if (isFloat(from)) {
    if (isUnsigned(to))
      return arith::FPToUIOp::create(b, loc, target, value);
    return arith::FPToSIOp::create(b, loc, target, value);
  }
  unsigned fw = from.getIntOrFloatBitWidth(), tw = to.getIntOrFloatBitWidth();
  if (fw < tw)
    return fromUnsigned
               ? arith::ExtUIOp::create(b, loc, target, value).getResult()
               : arith::ExtSIOp::create(b, loc, target, value).getResult();
  if (fw > tw)
    return arith::TruncIOp::create(b, loc, target, value);
  return value; // signed <-> unsigned of one width: same bits
}

Value lowering::scalarConstant(OpBuilder &b, Location loc, Type type,
                               double value) {
  Type t = signlessType(type);
  if (isFloat(t))
    return arith::ConstantOp::create(b, loc, t, b.getFloatAttr(t, value));
  return arith::ConstantOp::create(
      b, loc, t, b.getIntegerAttr(t, static_cast<int64_t>(value)));
}

Value lowering::getDimValue(OpBuilder &b, Location loc, Value tensor,
                            int64_t dim) {
  auto type = cast<RankedTensorType>(tensor.getType());
  if (!type.isDynamicDim(dim))
    return arith::ConstantIndexOp::create(b, loc, type.getDimSize(dim));
  return tensor::DimOp::create(b, loc, tensor, dim);
}

SmallVector<OpFoldResult> lowering::getDims(OpBuilder &b, Location loc,
                                            Value tensor) {
  auto type = cast<RankedTensorType>(tensor.getType());
  SmallVector<OpFoldResult> dims;
  for (int64_t i = 0; i < type.getRank(); ++i) {
    if (type.isDynamicDim(i))
      dims.push_back(tensor::DimOp::create(b, loc, tensor, i).getResult());
    else
      dims.push_back(b.getIndexAttr(type.getDimSize(i)));
  }
  return dims;
}

Value lowering::castTo(OpBuilder &b, Location loc, Value value, Type type) {
  if (value.getType() == type)
    return value;
  return tensor::CastOp::create(b, loc, type, value);
}

Value lowering::emptyTensor(OpBuilder &b, Location loc,
                            ArrayRef<OpFoldResult> dims, Type elementType) {
  return tensor::EmptyOp::create(b, loc, dims, elementType);
}

Value lowering::filledTensor(OpBuilder &b, Location loc,
                             ArrayRef<OpFoldResult> dims, Value value) {
  Value empty = emptyTensor(b, loc, dims, value.getType());
  return linalg::FillOp::create(b, loc, value, empty).getResult(0);
}

FailureOr<RankedTensorType>
lowering::convertedResultType(const TypeConverter &converter,
                              ConversionPatternRewriter &rewriter,
                              Operation *op, unsigned index) {
  auto type = dyn_cast_or_null<RankedTensorType>(
      converter.convertType(op->getResult(index).getType()));
  if (!type)
    return rewriter.notifyMatchFailure(op, "result is not a ranked tensor");
  return type;
}

std::optional<int64_t> lowering::normalizeAxis(int64_t axis, int64_t rank) {
  if (axis < 0)
    axis += rank;
  if (axis < 0 || axis >= std::max<int64_t>(rank, 1))
    return std::nullopt;
  return axis;
}

Value lowering::toIndex(OpBuilder &b, Location loc, Value index, Value size,
                        bool wrapNegative) {
  Value i = index.getType().isIndex()
                ? index
                : arith::IndexCastOp::create(b, loc, b.getIndexType(), index)
                      .getResult();
  if (!wrapNegative)
    return i;
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value negative =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, i, zero);
  Value wrapped = arith::AddIOp::create(b, loc, i, size);
  return arith::SelectOp::create(b, loc, negative, wrapped, i);
}

Value lowering::checkedIndex(OpBuilder &b, Location loc, Value i, Value size,
                             StringRef what) {
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value ok = arith::AndIOp::create(
      b, loc,
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, i, zero),
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, i, size));
  cf::AssertOp::create(b, loc, ok,
                       ("tailor: " + what + " index out of range").str());
  Value last = arith::SubIOp::create(
      b, loc, size, arith::ConstantIndexOp::create(b, loc, 1));
  i = arith::MaxSIOp::create(b, loc, i, zero);
  return arith::MinSIOp::create(b, loc, i, last);
}

Value lowering::extractIndex(OpBuilder &b, Location loc, Value tensor,
                             int64_t i) {
  Value pos = arith::ConstantIndexOp::create(b, loc, i);
  Value v = tensor::ExtractOp::create(b, loc, tensor, ValueRange{pos});
  return arith::IndexCastOp::create(b, loc, b.getIndexType(), v);
}

// Runtime result size of a broadcast: the first size that is not 1, else 1.
SmallVector<OpFoldResult> lowering::broadcastDims(OpBuilder &b, Location loc,
                                                  RankedTensorType resultType,
                                                  ValueRange inputs) {
  int64_t rank = resultType.getRank();
  SmallVector<OpFoldResult> dims;
  Value one;
  for (int64_t i = 0; i < rank; ++i) {
    if (!resultType.isDynamicDim(i)) {
      dims.push_back(b.getIndexAttr(resultType.getDimSize(i)));
      continue;
    }
    if (!one)
      one = arith::ConstantIndexOp::create(b, loc, 1);
    Value size = one;
    for (Value input : inputs) {
      auto type = cast<RankedTensorType>(input.getType());
      int64_t j = i - (rank - type.getRank());
      if (j < 0 || type.getDimSize(j) == 1)
        continue;
      Value d = getDimValue(b, loc, input, j);
      Value isOne =
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, d, one);
      size = arith::SelectOp::create(b, loc, isOne, size, d);
    }
    dims.push_back(size);
  }
  return dims;
}

namespace {
/// How an operand's dimension relates to the result's.
enum class DimKind { Same, Broadcast, Unknown };

DimKind classify(RankedTensorType operand, int64_t j, RankedTensorType result,
                 int64_t i) {
  int64_t od = operand.getDimSize(j), rd = result.getDimSize(i);
  if (od == 1)
    return rd == 1 ? DimKind::Same : DimKind::Broadcast;
  if (!ShapedType::isDynamic(od))
    return DimKind::Same;
  return rd == 1 ? DimKind::Same : DimKind::Unknown;
}
} // namespace

// Materializes `input` broadcast along every dim whose runtime size is 1
// while the result's is not; `dims` are the result sizes (aligned right).
static Value materializeBroadcast(OpBuilder &b, Location loc, Value input,
                                  ArrayRef<OpFoldResult> dims,
                                  RankedTensorType resultType) {
  auto type = cast<RankedTensorType>(input.getType());
  int64_t rank = type.getRank(), offset = dims.size() - rank;
  // Only the dims of unknown relation take the result's size; the others
  // (equal, or a static 1 broadcast by the indexing map) keep their own.
  SmallVector<OpFoldResult> sizes = getDims(b, loc, input);
  for (int64_t j = 0; j < rank; ++j)
    if (classify(type, j, resultType, j + offset) == DimKind::Unknown)
      sizes[j] = dims[j + offset];
  Value empty = emptyTensor(b, loc, sizes, type.getElementType());
  // tensor.empty may have refined static sizes: cast back to the operand type.
  empty = castTo(b, loc, empty, type);
  SmallVector<Value> inDims;
  for (int64_t j = 0; j < rank; ++j)
    inDims.push_back(getDimValue(b, loc, input, j));
  auto map = b.getMultiDimIdentityMap(rank);
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{type}, ValueRange{}, ValueRange{empty},
      ArrayRef<AffineMap>{map}, iters,
      [&](OpBuilder &nb, Location nloc, ValueRange) {
        Value zero = arith::ConstantIndexOp::create(nb, nloc, 0);
        Value one = arith::ConstantIndexOp::create(nb, nloc, 1);
        SmallVector<Value> indices;
        for (int64_t j = 0; j < rank; ++j) {
          Value idx = linalg::IndexOp::create(nb, nloc, j);
          Value isOne = arith::CmpIOp::create(
              nb, nloc, arith::CmpIPredicate::eq, inDims[j], one);
          indices.push_back(
              arith::SelectOp::create(nb, nloc, isOne, zero, idx));
        }
        Value v = tensor::ExtractOp::create(nb, nloc, input, indices);
        linalg::YieldOp::create(nb, nloc, v);
      });
  return generic.getResult(0);
}

// Guards an operand with unknown dims: at run time, broadcast it explicitly
// when one of them is 1 and the result's is not; also asserts compatibility.
static Value guardOperand(OpBuilder &b, Location loc, Value input,
                          ArrayRef<OpFoldResult> dims,
                          RankedTensorType resultType) {
  auto type = cast<RankedTensorType>(input.getType());
  int64_t rank = type.getRank(), offset = resultType.getRank() - rank;
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  Value needs;
  for (int64_t j = 0; j < rank; ++j) {
    if (classify(type, j, resultType, j + offset) != DimKind::Unknown)
      continue;
    Value d = tensor::DimOp::create(b, loc, input, j);
    Value out = getValueOrCreateConstantIndexOp(b, loc, dims[j + offset]);
    Value isOne =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, d, one);
    Value same =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, d, out);
    Value ok = arith::OrIOp::create(b, loc, isOne, same);
    cf::AssertOp::create(b, loc, ok,
                         "tailor: operand sizes cannot be broadcast together");
    // Given the assertion, (d == 1 && out != 1) is (d == 1 && d != out):
    // written so, it folds to false once d and out are the same value
    // (canonicalize + cse), and the guard with it.
    Value differs =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, d, out);
    Value here = arith::AndIOp::create(b, loc, isOne, differs);
    needs =
        needs ? arith::OrIOp::create(b, loc, needs, here).getResult() : here;
  }
  if (!needs)
    return input;
  auto ifOp = scf::IfOp::create(
      b, loc, needs,
      [&](OpBuilder &tb, Location tl) {
        scf::YieldOp::create(
            tb, tl, materializeBroadcast(tb, tl, input, dims, resultType));
      },
      [&](OpBuilder &eb, Location el) { scf::YieldOp::create(eb, el, input); });
  return ifOp.getResult(0);
}

Value lowering::buildElementwise(OpBuilder &b, Location loc,
                                 RankedTensorType resultType, ValueRange inputs,
                                 ScalarBody body,
                                 ArrayRef<OpFoldResult> givenDims) {
  int64_t rank = resultType.getRank();
  SmallVector<OpFoldResult> dims =
      givenDims.empty() ? broadcastDims(b, loc, resultType, inputs)
                        : SmallVector<OpFoldResult>(givenDims);
  SmallVector<Value> operands;
  SmallVector<AffineMap> maps;
  for (Value input : inputs) {
    auto type = cast<RankedTensorType>(input.getType());
    Value guarded = guardOperand(b, loc, input, dims, resultType);
    int64_t offset = rank - type.getRank();
    SmallVector<AffineExpr> exprs;
    for (int64_t j = 0; j < type.getRank(); ++j) {
      if (classify(type, j, resultType, j + offset) == DimKind::Broadcast)
        exprs.push_back(b.getAffineConstantExpr(0));
      else
        exprs.push_back(b.getAffineDimExpr(j + offset));
    }
    operands.push_back(guarded);
    maps.push_back(AffineMap::get(rank, 0, exprs, b.getContext()));
  }
  Value init = emptyTensor(b, loc, dims, resultType.getElementType());
  init = castTo(b, loc, init, resultType);
  maps.push_back(b.getMultiDimIdentityMap(rank));
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{resultType}, operands, ValueRange{init}, maps, iters,
      [&](OpBuilder &nb, Location nloc, ValueRange args) {
        Value v = body(nb, nloc, args.drop_back());
        linalg::YieldOp::create(nb, nloc, v);
      });
  return generic.getResult(0);
}

Value lowering::broadcastTo(OpBuilder &b, Location loc, Value input,
                            ArrayRef<OpFoldResult> dims,
                            RankedTensorType resultType) {
  return buildElementwise(
      b, loc, resultType, ValueRange{input},
      [](OpBuilder &, Location, ValueRange args) { return args[0]; }, dims);
}

Value lowering::indexConst(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}

Value lowering::moveDim(OpBuilder &b, Location loc, Value input,
                        int64_t from, int64_t to) {
  if (from == to)
    return input;
  auto type = cast<RankedTensorType>(input.getType());
  SmallVector<int64_t> perm;
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (i != from)
      perm.push_back(i);
  perm.insert(perm.begin() + to, from);
  SmallVector<OpFoldResult> inDims = getDims(b, loc, input), dims;
  for (int64_t p : perm)
    dims.push_back(inDims[p]);
  Value init = emptyTensor(b, loc, dims, type.getElementType());
  return linalg::TransposeOp::create(b, loc, input, init, perm).getResult()[0];
}
