//===- QuantizedWeights.h - int8 weights behind quant.scast -----*- C++ -*-===//
//
// Constant weights as the compression passes read and write them: f32
// values, and the int8 per-output-channel form tailor-quantize produces,
// shared with the passes that must rewrite such weights (tailor-lora-merge merges
// into them in full precision, then re-quantizes).

#ifndef TAILOR_TRANSFORMS_QUANTIZEDWEIGHTS_H
#define TAILOR_TRANSFORMS_QUANTIZEDWEIGHTS_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/Value.h"
#include "mlir/Support/LLVM.h"

#include <string>

#include <optional>
#include <vector>

namespace mlir::tailor {

/// The values of a constant f32 tensor (a tailor.onnx.Constant, dense or
/// resource), row-major; std::nullopt for anything else.
std::optional<std::vector<float>> constantFloats(Value value);

/// i8 integers (symmetric, one scale per column, round half to even) of the
/// f32 [K, N] matrix `w` (row-major) as a tailor.onnx.Constant behind a
/// quant.scast to tensor<KxNx!quant.uniform<i8<-127:127>:f32:1, {...}>>;
/// with `axis` 0, one scale per row (an embedding table's tokens).
Value buildInt8Weight(OpBuilder &b, Location loc, ArrayRef<float> w, int64_t k,
                      int64_t n, int axis = 1);

/// The f32 values of such a weight (a quant.scast of a constant, per-axis
/// along columns), row-major; std::nullopt for anything else.
std::optional<std::vector<float>> dequantizeInt8Weight(Value weight);

/// Quantization-aware training (tailor-quantize qat=true): every MatMul of
/// `fn` whose weight is a trainable [K, N] argument not matching `exclude`
/// reads it through tailor.fake_quant (`bits` 8: per column; 4: groups of
/// `groupSize` rows, `symmetric` or not). Errors name the weight.
LogicalResult insertFakeQuant(Operation *fn, int64_t bits, int64_t groupSize,
                              bool symmetric, ArrayRef<std::string> exclude,
                              int64_t &inserted);

} // namespace mlir::tailor

#endif // TAILOR_TRANSFORMS_QUANTIZEDWEIGHTS_H
