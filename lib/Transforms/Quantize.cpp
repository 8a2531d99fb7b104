//===- Quantize.cpp - Post-training quantization of linear weights --------===//
//
// int8 weight-only, per output channel, symmetric (round to nearest, ties to
// even): the weight constant becomes i8 integers behind a quant.scast to
// !quant.uniform<i8<-127:127>:f32:1, {scales}>. The lowering reads the
// integers; nothing here dequantizes.

#include "tailor/Dialect/Tailor.h"
#include "tailor/Transforms/Passes.h"

#include "LinearNames.h"
#include "QuantizedWeights.h"

#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/Dialect/Quant/IR/QuantTypes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/Support/Regex.h"

#include <cmath>

namespace mlir::tailor {
#define GEN_PASS_DEF_TAILORQUANTIZE
#include "dialects/Tailor/Passes.h.inc"
} // namespace mlir::tailor

using namespace mlir;
using namespace mlir::tailor;

std::optional<std::vector<float>>
mlir::tailor::constantFloats(Value value) {
  auto type = dyn_cast<RankedTensorType>(value.getType());
  if (!type || !type.hasStaticShape() || !type.getElementType().isF32())
    return std::nullopt;
  ElementsAttr attr = getConstantElements(value);
  if (!attr)
    return std::nullopt;
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(attr)) {
    AsmResourceBlob *blob = resource.getRawHandle().getBlob();
    if (!blob || blob->getData().size() != size_t(type.getNumElements()) * 4)
      return std::nullopt;
    std::vector<float> out(type.getNumElements());
    std::memcpy(out.data(), blob->getData().data(), out.size() * 4);
    return out;
  }
  DenseElementsAttr dense = toDenseElements(attr);
  if (!dense)
    return std::nullopt;
  auto values = dense.getValues<float>();
  return std::vector<float>(values.begin(), values.end());
}

Value mlir::tailor::buildInt8Weight(OpBuilder &b, Location loc,
                                    ArrayRef<float> w, int64_t k, int64_t n) {
  std::vector<double> scales(n, 0.0);
  for (int64_t r = 0; r < k; ++r)
    for (int64_t c = 0; c < n; ++c)
      scales[c] = std::max(scales[c], std::fabs(double(w[r * n + c])));
  for (double &s : scales)
    s = s > 0 ? s / 127.0 : 1.0; // an all-zero column: any scale
  std::vector<int8_t> q(size_t(k * n));
  for (int64_t r = 0; r < k; ++r)
    for (int64_t c = 0; c < n; ++c) {
      double v = std::nearbyint(double(w[r * n + c]) / scales[c]);
      q[r * n + c] = int8_t(std::clamp(v, -127.0, 127.0));
    }
  MLIRContext *ctx = b.getContext();
  Type f32 = Float32Type::get(ctx);
  auto storage = RankedTensorType::get({k, n}, IntegerType::get(ctx, 8));
  auto attr = DenseResourceElementsAttr::get(
      storage, "tailor_int8",
      HeapAsmResourceBlob::allocateAndCopyInferAlign(ArrayRef<int8_t>(q),
                                                     /*dataIsMutable=*/false));
  Value ints = OnnxConstantOp::create(b, loc, storage, attr, nullptr, nullptr,
                                      nullptr, nullptr, nullptr, nullptr);
  auto qtype = quant::UniformQuantizedPerAxisType::get(
      quant::QuantizationFlags::Signed, IntegerType::get(ctx, 8), f32, scales,
      SmallVector<int64_t>(n, 0), /*quantizedDimension=*/1,
      /*storageTypeMin=*/-127, /*storageTypeMax=*/127);
  return quant::StorageCastOp::create(
      b, loc, RankedTensorType::get({k, n}, qtype), ints);
}

std::optional<std::vector<float>>
mlir::tailor::dequantizeInt8Weight(Value weight) {
  auto type = dyn_cast<RankedTensorType>(weight.getType());
  auto cast = weight.getDefiningOp<quant::StorageCastOp>();
  if (!type || !cast || type.getRank() != 2 || !type.hasStaticShape())
    return std::nullopt;
  auto q = dyn_cast<quant::UniformQuantizedPerAxisType>(type.getElementType());
  if (!q || q.getQuantizedDimension() != 1 ||
      !q.getStorageType().isInteger(8) || !q.getExpressedType().isF32())
    return std::nullopt;
  ElementsAttr attr = getConstantElements(cast.getInput());
  auto resource = dyn_cast_or_null<DenseResourceElementsAttr>(attr);
  AsmResourceBlob *blob = resource ? resource.getRawHandle().getBlob() : nullptr;
  int64_t k = type.getDimSize(0), n = type.getDimSize(1);
  if (!blob || blob->getData().size() != size_t(k * n))
    return std::nullopt;
  const int8_t *data = reinterpret_cast<const int8_t *>(blob->getData().data());
  std::vector<float> w(size_t(k * n));
  for (int64_t r = 0; r < k; ++r)
    for (int64_t c = 0; c < n; ++c)
      w[r * n + c] = float(double(data[r * n + c]) * q.getScales()[c] -
                           double(q.getZeroPoints()[c]) * q.getScales()[c]);
  return w;
}

namespace {
struct QuantizePass : mlir::tailor::impl::TailorQuantizeBase<QuantizePass> {
  using TailorQuantizeBase::TailorQuantizeBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (mode != "int8" && mode != "int4") {
      emitError(module.getLoc())
          << "tailor-quantize: unknown mode '" << mode
          << "' (known: int8, int4)";
      return signalPassFailure();
    }
    if (mode == "int4" && groupSize < 1) {
      emitError(module.getLoc())
          << "tailor-quantize: group-size must be >= 1, got " << int64_t(groupSize);
      return signalPassFailure();
    }
    std::vector<std::unique_ptr<llvm::Regex>> excluded;
    for (const std::string &pattern : exclude) {
      auto re = std::make_unique<llvm::Regex>("^(" + pattern + ")$");
      std::string why;
      if (!re->isValid(why)) {
        emitError(module.getLoc())
            << "tailor-quantize: exclude pattern '" << pattern
            << "' is not a valid regular expression: " << why;
        return signalPassFailure();
      }
      excluded.push_back(std::move(re));
    }
    SmallVector<LinearOp> linears;
    module.walk([&](LinearOp linear) {
      auto type = dyn_cast<RankedTensorType>(linear.getWeight().getType());
      if (!type || type.getRank() != 2 || !type.hasStaticShape() ||
          !type.getElementType().isF32() ||
          type.getNumElements() < minElements ||
          !getConstantElements(linear.getWeight()))
        return;
      for (const std::string &name : linearNames(linear))
        for (auto &re : excluded)
          if (re->match(name))
            return;
      linears.push_back(linear);
    });
    DenseMap<Value, Value> done; // a weight shared by linears: once
    OpBuilder builder(module.getContext());
    for (LinearOp linear : linears) {
      Value weight = linear.getWeight();
      Value quantized = done.lookup(weight);
      if (!quantized) {
        builder.setInsertionPointAfterValue(weight);
        if (mode == "int4") {
          int64_t k = cast<RankedTensorType>(weight.getType()).getDimSize(0);
          if (k % groupSize) {
            linear.emitError("tailor-quantize: group-size ")
                << int64_t(groupSize) << " does not divide this linear's " << k
                << " inputs";
            return signalPassFailure();
          }
          quantized = quantizeInt4(builder, weight);
        } else {
          quantized = quantizeInt8(builder, weight);
        }
        if (!quantized)
          continue;
        done[weight] = quantized;
      }
      linear.getWeightMutable().assign(quantized);
      ++numQuantized;
    }
    for (auto &[weight, quantized] : done)
      if (weight.use_empty())
        weight.getDefiningOp()->erase();
  }

  /// 4-bit integers (stored in i8) with a scale (and, asymmetric, a zero
  /// point) per group of `groupSize` rows of each column.
  Value quantizeInt4(OpBuilder &b, Value weight) {
    auto type = cast<RankedTensorType>(weight.getType());
    std::optional<std::vector<float>> w = constantFloats(weight);
    if (!w)
      return {};
    int64_t k = type.getDimSize(0), n = type.getDimSize(1);
    int64_t groups = k / groupSize;
    std::vector<float> scales(groups * n);
    std::vector<int8_t> zeros(groups * n, 0), q(k * n);
    for (int64_t g = 0; g < groups; ++g)
      for (int64_t c = 0; c < n; ++c) {
        double lo = 0, hi = 0;
        for (int64_t r = g * groupSize; r < (g + 1) * groupSize; ++r) {
          lo = std::min(lo, double((*w)[r * n + c]));
          hi = std::max(hi, double((*w)[r * n + c]));
        }
        double s;
        int64_t z = 0;
        if (symmetric) {
          s = std::max(-lo, hi) / 7.0;
        } else {
          s = (hi - lo) / 15.0;
        }
        if (!(s > 0))
          s = 1.0;
        s = double(float(s)); // the kernels multiply by the f32 scale
        if (!symmetric)
          z = int64_t(std::clamp(std::nearbyint(-8.0 - lo / s), -8.0, 7.0));
        scales[g * n + c] = float(s);
        zeros[g * n + c] = int8_t(z);
        for (int64_t r = g * groupSize; r < (g + 1) * groupSize; ++r) {
          double v = std::nearbyint(double((*w)[r * n + c]) / s) + double(z);
          q[r * n + c] = int8_t(std::clamp(v, -8.0, 7.0));
        }
      }
    MLIRContext *ctx = b.getContext();
    Location loc = weight.getLoc();
    Type i8 = IntegerType::get(ctx, 8);
    auto storage = RankedTensorType::get({k, n}, i8);
    auto attr = DenseResourceElementsAttr::get(
        storage, "tailor_int4",
        HeapAsmResourceBlob::allocateAndCopyInferAlign(ArrayRef<int8_t>(q),
                                                       /*dataIsMutable=*/false));
    Value ints = OnnxConstantOp::create(b, loc, storage, attr, nullptr,
                                        nullptr, nullptr, nullptr, nullptr,
                                        nullptr);
    auto scaleAttr = DenseElementsAttr::get(
        RankedTensorType::get({groups, n}, type.getElementType()),
        ArrayRef<float>(scales));
    auto zeroAttr = DenseElementsAttr::get(
        RankedTensorType::get({groups, n}, i8), ArrayRef<int8_t>(zeros));
    auto qtype = quant::UniformQuantizedSubChannelType::getChecked(
        [&] { return emitError(loc); }, quant::QuantizationFlags::Signed, i8,
        type.getElementType(), scaleAttr, zeroAttr, {0, 1}, {groupSize, 1},
        /*storageTypeMin=*/-8, /*storageTypeMax=*/7);
    if (!qtype)
      return {};
    numBytesBefore += k * n * 4;
    numBytesAfter += k * n / 2 + groups * n * (symmetric ? 4 : 5);
    return quant::StorageCastOp::create(
        b, loc, RankedTensorType::get({k, n}, qtype), ints);
  }

  /// i8 integers and per-column scales for the constant [K, N] `weight`.
  Value quantizeInt8(OpBuilder &b, Value weight) {
    auto type = cast<RankedTensorType>(weight.getType());
    std::optional<std::vector<float>> w = constantFloats(weight);
    if (!w)
      return {};
    int64_t k = type.getDimSize(0), n = type.getDimSize(1);
    numBytesBefore += k * n * 4;
    numBytesAfter += k * n + n * 4;
    return buildInt8Weight(b, weight.getLoc(), *w, k, n);
  }
};
} // namespace
