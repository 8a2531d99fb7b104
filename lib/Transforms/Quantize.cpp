//===- Quantize.cpp - Post-training quantization of linear weights --------===//
//
// int8 weight-only, per output channel, symmetric (round to nearest, ties to
// even): the weight constant becomes i8 integers behind a quant.scast to
// !quant.uniform<i8<-127:127>:f32:1, {scales}>. The lowering reads the
// integers; nothing here dequantizes.

#include "tailor/Dialect/Tailor.h"
#include "tailor/Transforms/Entry.h"
#include "tailor/Transforms/Passes.h"

#include "tailor/Transforms/LinearNames.h"
#include "QuantizedWeights.h"

#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/Dialect/Quant/IR/QuantTypes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "tailor/Support/NF4.h"
#include "tailor/Support/SafeTensors.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Regex.h"

#include <cmath>
#include <cstring>
#include <limits>

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
                                    ArrayRef<float> w, int64_t k, int64_t n,
                                    int axis) {
  // One scale per column (axis 1) or per row (axis 0).
  auto at = [&](int64_t r, int64_t c) { return axis ? c : r; };
  std::vector<double> scales(axis ? n : k, 0.0);
  for (int64_t r = 0; r < k; ++r)
    for (int64_t c = 0; c < n; ++c)
      scales[at(r, c)] =
          std::max(scales[at(r, c)], std::fabs(double(w[r * n + c])));
  for (double &s : scales)
    s = s > 0 ? s / 127.0 : 1.0; // an all-zero column: any scale
  std::vector<int8_t> q(size_t(k * n));
  for (int64_t r = 0; r < k; ++r)
    for (int64_t c = 0; c < n; ++c) {
      double v = std::nearbyint(double(w[r * n + c]) / scales[at(r, c)]);
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
      SmallVector<int64_t>(scales.size(), 0), /*quantizedDimension=*/axis,
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
    if (mode != "int8" && mode != "int4" && mode != "w8a8" && mode != "nf4") {
      emitError(module.getLoc()) << "tailor-quantize: unknown mode '" << mode
                                 << "' (known: int8, int4, w8a8, nf4)";
      return signalPassFailure();
    }
    if (mode == "nf4" && (groupSize < 2 || groupSize % 2 || qat ||
                          method != "rtn")) {
      emitError(module.getLoc())
          << "tailor-quantize: mode=nf4 takes method=rtn, no qat and an even "
             "group-size >= 2 (the block size), got "
          << int64_t(groupSize);
      return signalPassFailure();
    }
    if (mode == "int4" && groupSize < 1) {
      emitError(module.getLoc())
          << "tailor-quantize: group-size must be >= 1, got " << int64_t(groupSize);
      return signalPassFailure();
    }
    if (method != "rtn" && method != "gptq" && method != "awq" &&
        method != "smoothquant") {
      emitError(module.getLoc())
          << "tailor-quantize: unknown method '" << method
          << "' (known: rtn, gptq, awq, smoothquant)";
      return signalPassFailure();
    }
    if (qat) {
      if (mode == "w8a8" || method != "rtn") {
        emitError(module.getLoc()) << "tailor-quantize: qat is for mode=int8 "
                                      "or int4 with method=rtn";
        return signalPassFailure();
      }
      func::FuncOp entry = findEntry(module);
      if (!entry) {
        emitError(module.getLoc()) << "tailor-quantize: no entry function";
        return signalPassFailure();
      }
      int64_t inserted = 0;
      if (failed(insertFakeQuant(entry, mode == "int8" ? 8 : 4, groupSize,
                                 symmetric, exclude, inserted)))
        return signalPassFailure();
      numQuantized += inserted;
      return;
    }
    bool smooth = method == "smoothquant";
    if (method != "rtn" && mode != (smooth ? "w8a8" : "int4")) {
      emitError(module.getLoc())
          << "tailor-quantize: method=" << method
          << " is for mode=" << (smooth ? "w8a8" : "int4");
      return signalPassFailure();
    }
    if (method != "rtn" && calibration.empty()) {
      emitError(module.getLoc())
          << "tailor-quantize: method=" << method
          << " needs calibration statistics (calibration=FILE from "
             "tailor-calibrate"
          << (smooth ? ")" : " --hessian)");
      return signalPassFailure();
    }
    if (!(damp > 0) || awqGrid < 1 || !(smoothAlpha >= 0 && smoothAlpha <= 1)) {
      emitError(module.getLoc())
          << "tailor-quantize: damp must be > 0, awq-grid >= 1 and "
             "smooth-alpha in [0, 1]";
      return signalPassFailure();
    }
    // X^T X per linear (tailor-calibrate --hessian; GPTQ, AWQ) or the
    // inputs' channel maxima (SmoothQuant), by calibration key.
    llvm::StringMap<std::vector<double>> hessians;
    StringRef statistic = smooth ? ".absmax" : ".hessian";
    if (method != "rtn") {
      auto file = safetensors::File::read(calibration);
      if (!file) {
        emitError(module.getLoc()) << "tailor-quantize: cannot read "
                                      "calibration: "
                                   << llvm::toString(file.takeError());
        return signalPassFailure();
      }
      for (const safetensors::TensorInfo &t : file->tensors()) {
        StringRef name(t.name);
        if (!name.consume_back(statistic) ||
            t.dtype != safetensors::DType::F32 ||
            t.shape.size() != (smooth ? 1u : 2u) ||
            t.shape[0] != t.shape.back())
          continue;
        std::vector<float> v(t.numElements());
        std::memcpy(v.data(), file->bytes(t).data(), v.size() * 4);
        hessians[name] = std::vector<double>(v.begin(), v.end());
      }
    }
    llvm::DenseMap<Operation *, std::string> keys;
    for (auto &[linear, key] : calibratedLinears(module))
      keys[linear.getOperation()] = key;
    std::vector<std::unique_ptr<llvm::Regex>> excluded, included;
    for (auto [option, patterns, out] :
         {std::make_tuple("exclude", &exclude, &excluded),
          std::make_tuple("only", &only, &included)})
      for (const std::string &pattern : *patterns) {
        auto re = std::make_unique<llvm::Regex>("^(" + pattern + ")$");
        std::string why;
        if (!re->isValid(why)) {
          emitError(module.getLoc())
              << "tailor-quantize: " << option << " pattern '" << pattern
              << "' is not a valid regular expression: " << why;
          return signalPassFailure();
        }
        out->push_back(std::move(re));
      }
    auto matches = [](const std::vector<std::unique_ptr<llvm::Regex>> &res,
                      ArrayRef<std::string> names) {
      for (const std::string &name : names)
        for (auto &re : res)
          if (re->match(name))
            return true;
      return false;
    };
    SmallVector<LinearOp> linears;
    std::vector<bool> matched(included.size(), false);
    module.walk([&](LinearOp linear) {
      auto type = dyn_cast<RankedTensorType>(linear.getWeight().getType());
      if (!quantizeLinears || !type || type.getRank() != 2 ||
          !type.hasStaticShape() ||
          !type.getElementType().isF32() ||
          type.getNumElements() < minElements ||
          !getConstantElements(linear.getWeight()))
        return;
      SmallVector<std::string> names = linearNames(linear);
      if (matches(excluded, names))
        return;
      if (!included.empty()) {
        // `only` names a linear by its first name (its key in a plan).
        bool any = false;
        for (size_t i = 0; i < included.size(); ++i)
          if (!names.empty() && included[i]->match(names.front())) {
            matched[i] = true;
            any = true;
          }
        if (!any)
          return;
      }
      linears.push_back(linear);
    });
    for (size_t i = 0; i < included.size(); ++i)
      if (!matched[i]) {
        emitError(module.getLoc())
            << "tailor-quantize: only pattern '" << only[i]
            << "' names no linear with a constant f32 weight (not excluded)";
        return signalPassFailure();
      }
    DenseMap<Value, Value> done; // a weight shared by linears: once
    DenseMap<Value, std::vector<float>> inputScales; // AWQ, SmoothQuant
    // SmoothQuant's s per input, shared by the linears that read it (Q, K,
    // V; gate, up): one x / s and one quantization of the activations.
    DenseMap<Value, std::vector<float>> smoothScales;
    if (smooth)
      smoothScales = jointSmoothScales(linears, keys, hessians);
    // x / s per input and s (AWQ's s is per weight, SmoothQuant's per input).
    DenseMap<Value, SmallVector<std::pair<std::vector<float>, Value>>>
        scaledInputs;
    OpBuilder builder(module.getContext());
    for (LinearOp linear : linears) {
      Value weight = linear.getWeight();
      Value quantized = done.lookup(weight);
      if (!quantized) {
        const std::vector<double> *h = nullptr;
        int64_t k = cast<RankedTensorType>(weight.getType()).getDimSize(0);
        if (method != "rtn") {
          auto it = hessians.find(keys.lookup(linear.getOperation()));
          if (it == hessians.end() ||
              int64_t(it->second.size()) != (smooth ? k : k * k)) {
            linear.emitError("tailor-quantize: the calibration file has no ")
                << (it == hessians.end() ? "" : "matching ")
                << (smooth ? "input maxima" : "X^T X") << " for linear '"
                << keys.lookup(linear.getOperation()) << "' (" << k
                << " inputs); was it calibrated on this model"
                << (smooth ? "?" : " with --hessian?");
            return signalPassFailure();
          }
          h = &it->second;
        }
        builder.setInsertionPointAfterValue(weight);
        if (mode == "nf4") {
          if (k % groupSize) {
            linear.emitError("tailor-quantize: group-size ")
                << int64_t(groupSize) << " does not divide this linear's " << k
                << " inputs";
            return signalPassFailure();
          }
          quantized = quantizeNF4(builder, weight);
        } else if (mode == "int4") {
          int64_t k = cast<RankedTensorType>(weight.getType()).getDimSize(0);
          if (k % groupSize) {
            linear.emitError("tailor-quantize: group-size ")
                << int64_t(groupSize) << " does not divide this linear's " << k
                << " inputs";
            return signalPassFailure();
          }
          std::vector<float> scale;
          quantized = quantizeInt4(builder, weight, h, scale);
          if (!scale.empty())
            inputScales[weight] = std::move(scale);
        } else {
          std::vector<float> scale;
          auto joint = smoothScales.find(linear.getInput());
          quantized = quantizeInt8(
              builder, weight,
              joint == smoothScales.end() ? nullptr : &joint->second, scale);
          if (!scale.empty())
            inputScales[weight] = std::move(scale);
        }
        if (!quantized)
          continue;
        done[weight] = quantized;
      }
      linear.getWeightMutable().assign(quantized);
      if (mode == "w8a8")
        linear.setActivationQuantAttr(builder.getStringAttr("int8_per_token"));
      auto scale = inputScales.find(weight);
      if (scale != inputScales.end()) {
        // AWQ, SmoothQuant: x / s before the linear (fused into the
        // activations' own elementwise work by the lowering).
        Value input = linear.getInput();
        Value scaled;
        for (auto &[factors, value] : scaledInputs[input])
          if (factors == scale->second)
            scaled = value;
        if (!scaled) {
          std::vector<float> inverse(scale->second.size());
          for (size_t i = 0; i < inverse.size(); ++i)
            inverse[i] = 1.0f / scale->second[i];
          builder.setInsertionPointAfterValue(input);
          Location loc = linear.getLoc();
          auto vecType = RankedTensorType::get({int64_t(inverse.size())},
                                               builder.getF32Type());
          Value factors = OnnxConstantOp::create(
              builder, loc, vecType,
              DenseElementsAttr::get(vecType, ArrayRef<float>(inverse)),
              nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
          scaled =
              OnnxMulOp::create(builder, loc, input.getType(), input, factors);
          scaledInputs[input].push_back({scale->second, scaled});
        }
        linear.getInputMutable().assign(scaled);
      }
      ++numQuantized;
    }
    // Embedding tables: int8, one scale per row (token). Not in a plan's
    // steps (`only` names linears) and not for nf4 (QLoRA keeps them).
    if (embeddings && included.empty() && mode != "nf4") {
      SmallVector<EmbeddingOp> tables;
      module.walk([&](EmbeddingOp op) {
        auto type = dyn_cast<RankedTensorType>(op.getTable().getType());
        if (!type || type.getRank() != 2 || !type.hasStaticShape() ||
            !type.getElementType().isF32() ||
            type.getNumElements() < minElements ||
            !getConstantElements(op.getTable()))
          return;
        if (!matches(excluded, weightNames(op.getTable())))
          tables.push_back(op);
      });
      DenseMap<Value, Value> doneTables;
      for (EmbeddingOp op : tables) {
        Value table = op.getTable();
        // A table that is also a linear's weight keeps that linear's form
        // (per column): no second copy.
        if (done.count(table))
          continue;
        Value quantized = doneTables.lookup(table);
        if (!quantized) {
          auto type = cast<RankedTensorType>(table.getType());
          int64_t v = type.getDimSize(0), d = type.getDimSize(1);
          auto values = constantFloats(table);
          if (!values)
            continue;
          builder.setInsertionPointAfterValue(table);
          quantized = buildInt8Weight(builder, table.getLoc(), *values, v, d,
                                      /*axis=*/0);
          doneTables[table] = quantized;
          numBytesBefore += v * d * 4;
          numBytesAfter += v * d + v * 4;
        }
        op.getTableMutable().assign(quantized);
        ++numEmbeddings;
      }
      for (auto &[table, quantized] : doneTables)
        if (table.use_empty())
          table.getDefiningOp()->erase();
    }
    for (auto &[weight, quantized] : done)
      if (weight.use_empty())
        weight.getDefiningOp()->erase();
  }

  /// Scale and zero point of one group from its range (RTN's rule, also
  /// GPTQ's and AWQ's).
  std::pair<double, int64_t> groupParams(double lo, double hi) const {
    lo = std::min(lo, 0.0);
    hi = std::max(hi, 0.0);
    double s = symmetric ? std::max(-lo, hi) / 7.0 : (hi - lo) / 15.0;
    if (!(s > 0))
      s = 1.0;
    s = double(float(s)); // the kernels multiply by the f32 scale
    int64_t z = 0;
    if (!symmetric)
      z = int64_t(std::clamp(std::nearbyint(-8.0 - lo / s), -8.0, 7.0));
    return {s, z};
  }
  static int8_t quantizeValue(double w, double s, int64_t z) {
    return int8_t(std::clamp(std::nearbyint(w / s) + double(z), -8.0, 7.0));
  }

  /// The int4 form of a [K, N] weight: integers, scales and zero points per
  /// group, and (AWQ) a factor per input channel the input is divided by.
  struct Int4Weight {
    std::vector<int8_t> q;
    std::vector<float> scales;
    std::vector<int8_t> zeros;
    std::vector<float> inputScale;
  };

  /// Round to nearest, per group of rows of each column.
  Int4Weight roundToNearest(const std::vector<double> &w, int64_t k,
                            int64_t n) const {
    int64_t groups = k / groupSize;
    Int4Weight out{std::vector<int8_t>(k * n), std::vector<float>(groups * n),
                   std::vector<int8_t>(groups * n, 0), {}};
    for (int64_t g = 0; g < groups; ++g)
      for (int64_t c = 0; c < n; ++c) {
        double lo = 0, hi = 0;
        for (int64_t r = g * groupSize; r < (g + 1) * groupSize; ++r) {
          lo = std::min(lo, w[r * n + c]);
          hi = std::max(hi, w[r * n + c]);
        }
        auto [scale, z] = groupParams(lo, hi);
        out.scales[g * n + c] = float(scale);
        out.zeros[g * n + c] = int8_t(z);
        for (int64_t r = g * groupSize; r < (g + 1) * groupSize; ++r)
          out.q[r * n + c] = quantizeValue(w[r * n + c], scale, z);
      }
    return out;
  }

  /// GPTQ (Frantar et al. 2023, ../shared/REFERENCE.md): rows of W (inputs)
  /// quantized in order; each row's rounding error, weighted by the upper
  /// Cholesky factor U of H^-1 (H = X^T X + damp), is spread over the rows
  /// not yet quantized. Group parameters come from the updated weights when
  /// a group starts (as the reference implementation without static
  /// groups). Returns nothing when H is not positive definite.
  std::optional<Int4Weight> gptq(std::vector<double> w, std::vector<double> h,
                                 int64_t k, int64_t n) const {
    for (int64_t i = 0; i < k; ++i)
      if (h[i * k + i] <= 0) { // an input never seen: its row is irrelevant
        h[i * k + i] = 1;
        for (int64_t c = 0; c < n; ++c)
          w[i * n + c] = 0;
      }
    double mean = 0;
    for (int64_t i = 0; i < k; ++i)
      mean += h[i * k + i] / double(k);
    for (int64_t i = 0; i < k; ++i)
      h[i * k + i] += damp * mean;
    // H = L L^T, then H^-1 from L, then H^-1 = U^T U (U upper).
    auto cholesky = [k](std::vector<double> &a) {
      for (int64_t j = 0; j < k; ++j) {
        double d = a[j * k + j];
        for (int64_t p = 0; p < j; ++p)
          d -= a[j * k + p] * a[j * k + p];
        if (!(d > 0))
          return false;
        d = std::sqrt(d);
        a[j * k + j] = d;
        for (int64_t i = j + 1; i < k; ++i) {
          double v = a[i * k + j];
          for (int64_t p = 0; p < j; ++p)
            v -= a[i * k + p] * a[j * k + p];
          a[i * k + j] = v / d;
        }
        for (int64_t i = 0; i < j; ++i)
          a[i * k + j] = 0;
      }
      return true;
    };
    if (!cholesky(h))
      return std::nullopt;
    // inv(L) by forward substitution, then H^-1 = inv(L)^T inv(L).
    std::vector<double> li(k * k, 0.0);
    for (int64_t j = 0; j < k; ++j) {
      li[j * k + j] = 1.0 / h[j * k + j];
      for (int64_t i = j + 1; i < k; ++i) {
        double v = 0;
        for (int64_t p = j; p < i; ++p)
          v -= h[i * k + p] * li[p * k + j];
        li[i * k + j] = v / h[i * k + i];
      }
    }
    std::vector<double> hinv(k * k, 0.0);
    for (int64_t p = 0; p < k; ++p)
      for (int64_t i = 0; i <= p; ++i) {
        double lpi = li[p * k + i];
        if (lpi == 0)
          continue;
        for (int64_t j = 0; j <= p; ++j)
          hinv[i * k + j] += lpi * li[p * k + j];
      }
    if (!cholesky(hinv)) // lower factor M of H^-1: U = M^T
      return std::nullopt;
    int64_t groups = k / groupSize;
    Int4Weight out{std::vector<int8_t>(k * n), std::vector<float>(groups * n),
                   std::vector<int8_t>(groups * n, 0), {}};
    std::vector<double> err(n);
    for (int64_t i = 0; i < k; ++i) {
      int64_t g = i / groupSize;
      if (i % groupSize == 0)
        for (int64_t c = 0; c < n; ++c) {
          double lo = 0, hi = 0;
          for (int64_t r = i; r < i + groupSize; ++r) {
            lo = std::min(lo, w[r * n + c]);
            hi = std::max(hi, w[r * n + c]);
          }
          auto [scale, z] = groupParams(lo, hi);
          out.scales[g * n + c] = float(scale);
          out.zeros[g * n + c] = int8_t(z);
        }
      double uii = hinv[i * k + i]; // U[i][i] = M[i][i]
      for (int64_t c = 0; c < n; ++c) {
        double scale = out.scales[g * n + c];
        int64_t z = out.zeros[g * n + c];
        int8_t q = quantizeValue(w[i * n + c], scale, z);
        out.q[i * n + c] = q;
        err[c] = (w[i * n + c] - scale * double(q - z)) / uii;
      }
      for (int64_t j = i + 1; j < k; ++j) {
        double f = hinv[j * k + i]; // U[i][j] = M[j][i]
        if (f == 0)
          continue;
        for (int64_t c = 0; c < n; ++c)
          w[j * n + c] -= err[c] * f;
      }
    }
    return out;
  }

  /// sum_n d_n^T H d_n: the summed squared output error over the
  /// calibration inputs of a weight change D.
  static double outputError(const std::vector<double> &d,
                            const std::vector<double> &h, int64_t k,
                            int64_t n) {
    std::vector<double> hd(n);
    double total = 0;
    for (int64_t i = 0; i < k; ++i) {
      std::fill(hd.begin(), hd.end(), 0.0);
      for (int64_t j = 0; j < k; ++j) {
        double hij = h[i * k + j];
        const double *dj = &d[j * n];
        for (int64_t c = 0; c < n; ++c)
          hd[c] += hij * dj[c];
      }
      for (int64_t c = 0; c < n; ++c)
        total += d[i * n + c] * hd[c];
    }
    return total;
  }

  /// AWQ (Lin et al. 2024): input channel k scaled by s_k = a_k^alpha (a_k:
  /// the input's RMS from diag(X^T X), standing in for the mean |x|), W's
  /// row k multiplied by s_k before RTN and the input divided by s_k; alpha
  /// from a grid of awq-grid points in [0, 1) minimising the output error
  /// sum_n d_n^T H d_n (alpha = 0 is RTN, so never worse on that measure).
  Int4Weight awq(const std::vector<double> &w, const std::vector<double> &h,
                 int64_t k, int64_t n) const {
    std::vector<double> rms(k);
    for (int64_t i = 0; i < k; ++i)
      rms[i] = std::sqrt(std::max(h[i * k + i], 0.0));
    double floor = 0;
    for (double r : rms)
      floor = std::max(floor, r);
    floor = floor > 0 ? floor * 1e-6 : 1.0;
    Int4Weight best;
    double bestError = std::numeric_limits<double>::infinity();
    std::vector<double> ws(k * n), d(k * n);
    for (int64_t step = 0; step < awqGrid; ++step) {
      double alpha = double(step) / double(awqGrid);
      std::vector<float> s(k);
      double lo = std::numeric_limits<double>::infinity(), hi = 0;
      for (int64_t i = 0; i < k; ++i) {
        double v = std::pow(std::max(rms[i], floor), alpha);
        s[i] = float(v);
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
      double norm = std::sqrt(lo * hi); // as AWQ: s / sqrt(max * min)
      for (float &v : s)
        v = float(v / norm);
      for (int64_t i = 0; i < k; ++i)
        for (int64_t c = 0; c < n; ++c)
          ws[i * n + c] = w[i * n + c] * s[i];
      Int4Weight candidate = roundToNearest(ws, k, n);
      for (int64_t i = 0; i < k; ++i)
        for (int64_t c = 0; c < n; ++c) {
          int64_t g = i / groupSize;
          double deq = double(candidate.scales[g * n + c]) *
                       double(candidate.q[i * n + c] -
                              candidate.zeros[g * n + c]);
          d[i * n + c] = deq / s[i] - w[i * n + c];
        }
      double error = outputError(d, h, k, n);
      if (error < bestError) {
        bestError = error;
        best = std::move(candidate);
        best.inputScale = std::move(s);
      }
    }
    clipGroups(best, w, h, k, n);
    return best;
  }

  /// AWQ's weight clipping: per group and column, the range of diag(s) W
  /// shrunk by the ratio (1, 0.95, ..., 0.55) whose rounding gives the least
  /// output error within the group, d^T H_gg d (cross-group terms ignored,
  /// as AWQ's per-group search).
  void clipGroups(Int4Weight &weight, const std::vector<double> &w,
                  const std::vector<double> &h, int64_t k, int64_t n) const {
    const std::vector<float> &s = weight.inputScale;
    int64_t groups = k / groupSize;
    std::vector<double> d(groupSize), best(groupSize);
    std::vector<int8_t> q(groupSize), bestQ(groupSize);
    for (int64_t g = 0; g < groups; ++g)
      for (int64_t c = 0; c < n; ++c) {
        int64_t r0 = g * groupSize;
        double lo = 0, hi = 0;
        for (int64_t r = r0; r < r0 + groupSize; ++r) {
          lo = std::min(lo, w[r * n + c] * s[r]);
          hi = std::max(hi, w[r * n + c] * s[r]);
        }
        double bestError = std::numeric_limits<double>::infinity();
        for (int step = 0; step < 10; ++step) {
          double ratio = 1.0 - 0.05 * step;
          auto [scale, z] = groupParams(lo * ratio, hi * ratio);
          for (int64_t j = 0; j < groupSize; ++j) {
            int64_t r = r0 + j;
            q[j] = quantizeValue(w[r * n + c] * s[r], scale, z);
            d[j] = scale * double(q[j] - z) / s[r] - w[r * n + c];
          }
          double error = 0;
          for (int64_t i = 0; i < groupSize; ++i) {
            const double *hi_ = &h[(r0 + i) * k + r0];
            double row = 0;
            for (int64_t j = 0; j < groupSize; ++j)
              row += hi_[j] * d[j];
            error += d[i] * row;
          }
          if (error < bestError) {
            bestError = error;
            bestQ = q;
            weight.scales[g * n + c] = float(scale);
            weight.zeros[g * n + c] = int8_t(z);
          }
        }
        for (int64_t j = 0; j < groupSize; ++j)
          weight.q[(r0 + j) * n + c] = bestQ[j];
      }
  }

  /// 4-bit integers (stored in i8) with a scale (and, asymmetric, a zero
  /// point) per group of `groupSize` rows of each column, by `method`; for
  /// AWQ also the input divided per channel (a constant multiply before
  /// the linear). `h`: the calibration X^T X (GPTQ, AWQ).
  Value quantizeInt4(OpBuilder &b, Value weight, const std::vector<double> *h,
                     std::vector<float> &inputScale) {
    auto type = cast<RankedTensorType>(weight.getType());
    std::optional<std::vector<float>> wf = constantFloats(weight);
    if (!wf)
      return {};
    int64_t k = type.getDimSize(0), n = type.getDimSize(1);
    int64_t groups = k / groupSize;
    std::vector<double> w(wf->begin(), wf->end());
    Int4Weight result;
    if (method == "gptq" && h) {
      std::optional<Int4Weight> r = gptq(w, *h, k, n);
      if (!r) {
        emitWarning(weight.getLoc())
            << "tailor-quantize: X^T X is not positive definite even with "
               "damp; this weight is rounded to nearest";
        r = roundToNearest(w, k, n);
      }
      result = std::move(*r);
    } else if (method == "awq" && h) {
      result = awq(w, *h, k, n);
    } else {
      result = roundToNearest(w, k, n);
    }
    inputScale = std::move(result.inputScale);
    MLIRContext *ctx = b.getContext();
    Location loc = weight.getLoc();
    Type i8 = IntegerType::get(ctx, 8);
    auto storage = RankedTensorType::get({k, n}, i8);
    auto attr = DenseResourceElementsAttr::get(
        storage, "tailor_int4",
        HeapAsmResourceBlob::allocateAndCopyInferAlign(
            ArrayRef<int8_t>(result.q), /*dataIsMutable=*/false));
    Value ints = OnnxConstantOp::create(b, loc, storage, attr, nullptr,
                                        nullptr, nullptr, nullptr, nullptr,
                                        nullptr);
    auto scaleAttr = DenseElementsAttr::get(
        RankedTensorType::get({groups, n}, type.getElementType()),
        ArrayRef<float>(result.scales));
    auto zeroAttr = DenseElementsAttr::get(
        RankedTensorType::get({groups, n}, i8), ArrayRef<int8_t>(result.zeros));
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

  /// NF4 (QLoRA, as bitsandbytes quantizes with blocksize = group-size):
  /// per block of rows of a column its absolute maximum and each element's
  /// NF4 index, two per byte (the even row high); the weight becomes
  /// tailor.nf4_dequantize of those constants.
  Value quantizeNF4(OpBuilder &b, Value weight) {
    auto type = cast<RankedTensorType>(weight.getType());
    std::optional<std::vector<float>> w = constantFloats(weight);
    if (!w)
      return {};
    int64_t k = type.getDimSize(0), n = type.getDimSize(1);
    int64_t g = groupSize, groups = k / g;
    std::vector<float> absmax(groups * n, 0.0f);
    for (int64_t row = 0; row < k; ++row)
      for (int64_t col = 0; col < n; ++col) {
        float &m = absmax[(row / g) * n + col];
        m = std::max(m, std::fabs((*w)[row * n + col]));
      }
    std::vector<int8_t> packed((k / 2) * n);
    for (int64_t row = 0; row < k; row += 2)
      for (int64_t col = 0; col < n; ++col) {
        float m = absmax[(row / g) * n + col];
        uint8_t hi = nf4::encode((*w)[row * n + col], m);
        uint8_t lo = nf4::encode((*w)[(row + 1) * n + col], m);
        packed[(row / 2) * n + col] = int8_t(uint8_t(hi << 4 | lo));
      }
    MLIRContext *ctx = b.getContext();
    Location loc = weight.getLoc();
    auto storage = RankedTensorType::get({k / 2, n}, IntegerType::get(ctx, 8));
    Value codes = OnnxConstantOp::create(
        b, loc, storage,
        DenseResourceElementsAttr::get(
            storage, "tailor_nf4",
            HeapAsmResourceBlob::allocateAndCopyInferAlign(
                ArrayRef<int8_t>(packed), /*dataIsMutable=*/false)),
        nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
    auto absType = RankedTensorType::get({groups, n}, b.getF32Type());
    Value scales = OnnxConstantOp::create(
        b, loc, absType,
        DenseElementsAttr::get(absType, ArrayRef<float>(absmax)), nullptr,
        nullptr, nullptr, nullptr, nullptr, nullptr);
    numBytesBefore += k * n * 4;
    numBytesAfter += k * n / 2 + groups * n * 4;
    return NF4DequantizeOp::create(b, loc, type, codes, scales,
                                   b.getI64IntegerAttr(g));
  }

  /// i8 integers and per-column scales for the constant [K, N] `weight`.
  /// SmoothQuant's factors (Xiao et al.) per input value read by linears:
  /// s_k = max|x_k|^alpha / max |W_k|^(1 - alpha) per input channel k, the
  /// weight maximum over the rows k of every such linear's weight (so that
  /// they share one x / s); 1 where either maximum is 0. `absmax` holds
  /// each linear's input maxima by calibration key.
  DenseMap<Value, std::vector<float>>
  jointSmoothScales(ArrayRef<LinearOp> linears,
                    const llvm::DenseMap<Operation *, std::string> &keys,
                    const llvm::StringMap<std::vector<double>> &absmax) const {
    DenseMap<Value, std::pair<std::vector<double>, std::vector<double>>> maxima;
    for (LinearOp linear : linears) {
      auto stats = absmax.find(keys.lookup(linear.getOperation()));
      auto type = cast<RankedTensorType>(linear.getWeight().getType());
      int64_t k = type.getDimSize(0), n = type.getDimSize(1);
      std::optional<std::vector<float>> w = constantFloats(linear.getWeight());
      if (stats == absmax.end() || int64_t(stats->second.size()) != k || !w)
        continue; // reported when the linear is quantized
      auto &[xmax, wmax] = maxima[linear.getInput()];
      xmax.resize(k, 0.0);
      wmax.resize(k, 0.0);
      for (int64_t r = 0; r < k; ++r) {
        xmax[r] = std::max(xmax[r], stats->second[r]);
        for (int64_t c = 0; c < n; ++c)
          wmax[r] = std::max(wmax[r], std::fabs(double((*w)[r * n + c])));
      }
    }
    DenseMap<Value, std::vector<float>> scales;
    for (auto &[input, m] : maxima) {
      auto &[xmax, wmax] = m;
      std::vector<float> s(xmax.size(), 1.0f);
      for (size_t r = 0; r < s.size(); ++r)
        if (xmax[r] > 0 && wmax[r] > 0)
          s[r] = float(std::pow(xmax[r], double(smoothAlpha)) /
                       std::pow(wmax[r], 1.0 - smoothAlpha));
      scales[input] = std::move(s);
    }
    return scales;
  }

  /// int8 per output channel; with SmoothQuant's factors `smoothing`, of
  /// diag(s) W, the input to be divided by s (`inputScale`).
  Value quantizeInt8(OpBuilder &b, Value weight,
                     const std::vector<float> *smoothing,
                     std::vector<float> &inputScale) {
    auto type = cast<RankedTensorType>(weight.getType());
    std::optional<std::vector<float>> w = constantFloats(weight);
    if (!w)
      return {};
    int64_t k = type.getDimSize(0), n = type.getDimSize(1);
    if (smoothing && int64_t(smoothing->size()) == k) {
      inputScale = *smoothing;
      for (int64_t r = 0; r < k; ++r)
        for (int64_t c = 0; c < n; ++c)
          (*w)[r * n + c] *= inputScale[r];
    }
    numBytesBefore += k * n * 4;
    numBytesAfter += k * n + n * 4;
    return buildInt8Weight(b, weight.getLoc(), *w, k, n);
  }
};
} // namespace
