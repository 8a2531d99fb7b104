//===- TailorToLinalg.h - Lowering the tailor dialect to linalg -----------===//

#ifndef TAILOR_CONVERSION_TAILORTOLINALG_H
#define TAILOR_CONVERSION_TAILORTOLINALG_H

#include "mlir/Transforms/DialectConversion.h"

namespace mlir::tailor {
/// ONNX element types to the signless types upstream dialects use (ui8 ->
/// i8), element-wise through tensors; every other type is kept.
class TailorTypeConverter : public TypeConverter {
public:
  TailorTypeConverter();
};

/// The patterns of --tailor-lower-to-linalg. `attentionBlock`: keys per
/// block of the online-softmax attention used beyond that many (or a
/// dynamic number of) keys; 0 always materialises the score matrix.
/// `int4Kernel`: constant int4 weights run in the int8-activation
/// micro-kernel (else the f32 group contraction).
void populateTailorToLinalgPatterns(const TypeConverter &converter,
                                    RewritePatternSet &patterns,
                                    int64_t attentionBlock = 256,
                                    bool int4Kernel = true);
} // namespace mlir::tailor

#endif // TAILOR_CONVERSION_TAILORTOLINALG_H
