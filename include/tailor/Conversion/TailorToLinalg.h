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

/// The patterns of --tailor-lower-to-linalg.
void populateTailorToLinalgPatterns(const TypeConverter &converter,
                                    RewritePatternSet &patterns);
} // namespace mlir::tailor

#endif // TAILOR_CONVERSION_TAILORTOLINALG_H
