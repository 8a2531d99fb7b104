//===- Utils.h - Helpers shared by the tailor -> linalg patterns ----------===//
//
// ONNX element types keep their signedness (ui8, i64, ...); linalg and arith
// work on signless integers. The patterns therefore read the original
// (ONNX) element types from the op and build on the converted values.

#ifndef TAILOR_LIB_CONVERSION_TAILORTOLINALG_UTILS_H
#define TAILOR_LIB_CONVERSION_TAILORTOLINALG_UTILS_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"
#include "tailor/Dialect/Tailor.h"

namespace mlir::tailor::lowering {

/// Builds the scalar result of an elementwise op from its scalar operands.
using ScalarBody = function_ref<Value(OpBuilder &, Location, ValueRange)>;

/// The element type of a (tensor) type, or the type itself.
Type elementTypeOf(Type type);
/// The signless form of an ONNX element type (ui8 -> i8).
Type signlessType(Type elementType);
inline bool isFloat(Type t) { return isa<FloatType>(t); }
inline bool isUnsigned(Type t) { return t.isUnsignedInteger(); }
inline bool isBool(Type t) { return t.isInteger(1); }

/// `value` (of ONNX element type `from`, held signless) converted to ONNX
/// element type `to` with ONNX Cast semantics (bool is `!= 0`).
Value convertScalar(OpBuilder &b, Location loc, Value value, Type from,
                    Type to);

/// A scalar constant of ONNX element type `type` (built signless).
Value scalarConstant(OpBuilder &b, Location loc, Type type, double value);

/// The sizes of a ranked tensor value, static sizes as attributes.
SmallVector<OpFoldResult> getDims(OpBuilder &b, Location loc, Value tensor);
Value getDimValue(OpBuilder &b, Location loc, Value tensor, int64_t dim);

/// An elementwise op with ONNX (numpy) multidirectional broadcasting into a
/// tensor of `resultType` (signless). A dynamic size that may be 1 at run time
/// is handled at run time: the operand is broadcast explicitly when it is 1
/// and the result's size is not, so forcing dims dynamic never changes the
/// result. Incompatible sizes fail a runtime assertion.
/// `dims`, when given, are the result sizes (else computed from the inputs).
Value buildElementwise(OpBuilder &b, Location loc, RankedTensorType resultType,
                       ValueRange inputs, ScalarBody body,
                       ArrayRef<OpFoldResult> dims = {});

/// The broadcast result sizes of `inputs` for a result of rank `rank`.
SmallVector<OpFoldResult> broadcastDims(OpBuilder &b, Location loc,
                                        RankedTensorType resultType,
                                        ValueRange inputs);

/// `input` broadcast explicitly (materialized) to `dims` (numpy rules, rank
/// may grow). Sizes already equal are not copied unless needed.
Value broadcastTo(OpBuilder &b, Location loc, Value input,
                  ArrayRef<OpFoldResult> dims, RankedTensorType resultType);

/// `value` as `type` (a tensor.cast when the static sizes differ).
Value castTo(OpBuilder &b, Location loc, Value value, Type type);

/// An `index` constant.
Value indexConst(OpBuilder &b, Location loc, int64_t v);

/// A tensor.empty of the given sizes and element type.
Value emptyTensor(OpBuilder &b, Location loc, ArrayRef<OpFoldResult> dims,
                  Type elementType);

/// A tensor filled with `value`.
Value filledTensor(OpBuilder &b, Location loc, ArrayRef<OpFoldResult> dims,
                   Value value);

/// The converted ranked result type of an op's result, or a match failure.
FailureOr<RankedTensorType>
convertedResultType(const TypeConverter &converter,
                    ConversionPatternRewriter &rewriter, Operation *op,
                    unsigned index = 0);

/// Normalises a possibly negative axis against `rank`; fails when outside.
std::optional<int64_t> normalizeAxis(int64_t axis, int64_t rank);

/// `index` (an integer scalar, signless) as an `index` value; negative values
/// count from `size` when `wrapNegative`.
Value toIndex(OpBuilder &b, Location loc, Value index, Value size,
              bool wrapNegative);

/// `i` (an index, negative values already wrapped) checked against
/// [0, size): outside it, the run fails with "tailor: <what> index out of
/// range" (cf.assert, which the CPU target turns into an error of the run);
/// the result is also clamped, so no path reads or writes outside.
Value checkedIndex(OpBuilder &b, Location loc, Value i, Value size,
                   StringRef what);

/// Reads element `i` of a 1-D integer tensor as an index (signed).
Value extractIndex(OpBuilder &b, Location loc, Value tensor, int64_t i);

/// Reduces `input` over `axes` (sorted, unique) with `combine`, starting
/// from `init`; `keepDims` keeps the reduced dims as size 1.
Value buildReduction(
    OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> axes,
    bool keepDims, Value init, RankedTensorType resultType,
    function_ref<Value(OpBuilder &, Location, Value x, Value acc)> combine);

/// Moves dim `from` of `input` to position `to` (a linalg.transpose), or
/// returns `input` when they are equal.
Value moveDim(OpBuilder &b, Location loc, Value input, int64_t from,
              int64_t to);

/// softmax (or log-softmax) of `x` along `axis` (max-shifted), as
/// reductions and elementwise generics.
Value buildSoftmax(OpBuilder &b, Location loc, Value x, int64_t axis,
                   RankedTensorType type, bool log = false);

/// Pattern population, one function per family (one file each).
void populateElementwisePatterns(const TypeConverter &, RewritePatternSet &);
void populateContractionPatterns(const TypeConverter &, RewritePatternSet &,
                                 bool int4Kernel);
void populateReductionPatterns(const TypeConverter &, RewritePatternSet &);
void populateDataMovementPatterns(const TypeConverter &, RewritePatternSet &);
void populateNormalizationPatterns(const TypeConverter &, RewritePatternSet &);
void populateIndexingPatterns(const TypeConverter &, RewritePatternSet &);
void populateRuntimeAxesPatterns(const TypeConverter &, RewritePatternSet &);
/// `attentionBlock`: keys per block of the online-softmax attention (0:
/// always materialise the scores).
void populateLLMPatterns(const TypeConverter &, RewritePatternSet &,
                         int64_t attentionBlock);
void populateGatheringPatterns(const TypeConverter &, RewritePatternSet &);
void populateQuantizationPatterns(const TypeConverter &, RewritePatternSet &);
void populateScatterPatterns(const TypeConverter &, RewritePatternSet &);

} // namespace mlir::tailor::lowering

#endif // TAILOR_LIB_CONVERSION_TAILORTOLINALG_UTILS_H
