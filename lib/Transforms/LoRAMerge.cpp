//===- LoRAMerge.cpp - LoRA adapters folded into base weights -------------===//
//
// Branches of the graph:
//   y = linear(x, W [, b]) + s * linear(linear(x, A), B)   (either Add order,
//   either Mul order, or no Mul when s = 1)  ->  linear(x, W + s * A.B [, b]).
// PEFT adapter files: W += sum_i weight_i * scale_i * (B_i.A_i)^T for the
// linears named like each adapted module.
// Products and sums are computed in double precision: the merged weight
// differs from the exact sum by one f32 rounding, not by a K-long f32
// accumulation.

#include "tailor/Dialect/Tailor.h"
#include "tailor/Support/PeftAdapter.h"
#include "tailor/Transforms/Passes.h"

#include "tailor/Transforms/LinearNames.h"
#include "QuantizedWeights.h"
#include "RaiseUtils.h"

#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/Dialect/Quant/IR/QuantTypes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/Support/Regex.h"

#include <cmath>

namespace mlir::tailor {
#define GEN_PASS_DEF_TAILORLORAMERGE
#include "dialects/Tailor/Passes.h.inc"
} // namespace mlir::tailor

using namespace mlir;
using namespace mlir::tailor;

namespace {
/// The f32 values of a constant [rows, cols] matrix, row-major (with
/// `vector`, of a constant [cols] vector, rows = 1).
std::optional<std::vector<float>> matrix(Value v, int64_t rows, int64_t cols,
                                         bool vector = false) {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  if (!type || !type.hasStaticShape() || !type.getElementType().isF32() ||
      type.getShape() != (vector ? ArrayRef<int64_t>{cols}
                                 : ArrayRef<int64_t>{rows, cols}))
    return std::nullopt;
  ElementsAttr attr = getConstantElements(v);
  if (!attr)
    return std::nullopt;
  DenseElementsAttr dense = toDenseElements(attr);
  if (!dense)
    return std::nullopt;
  auto values = dense.getValues<float>();
  return std::vector<float>(values.begin(), values.end());
}

/// delta[i, c] += scale * sum_j a(i, j) * b(j, c) for i < k, c < n, j < r.
template <typename A, typename B>
void addLowRank(std::vector<double> &delta, int64_t k, int64_t n, int64_t r,
                double scale, A a, B b) {
  std::vector<double> row(static_cast<size_t>(n));
  for (int64_t i = 0; i < k; ++i) {
    std::fill(row.begin(), row.end(), 0.0);
    for (int64_t j = 0; j < r; ++j) {
      double aij = a(i, j);
      for (int64_t c = 0; c < n; ++c)
        row[c] += aij * b(j, c);
    }
    for (int64_t c = 0; c < n; ++c)
      delta[i * n + c] += scale * row[c];
  }
}

/// A constant holding base + delta, rounded once to f32.
Value mergedConstant(OpBuilder &builder, Location loc, RankedTensorType type,
                     ArrayRef<float> base, ArrayRef<double> delta) {
  std::vector<float> merged(base.size());
  for (size_t i = 0; i < merged.size(); ++i)
    merged[i] = float(double(base[i]) + delta[i]);
  auto attr = DenseResourceElementsAttr::get(
      type, "tailor_lora_merged",
      HeapAsmResourceBlob::allocateAndCopyInferAlign(ArrayRef<float>(merged),
                                                     /*dataIsMutable=*/false));
  return OnnxConstantOp::create(builder, loc, type, attr, nullptr, nullptr,
                                nullptr, nullptr, nullptr, nullptr);
}

struct MergeLoRA : OpRewritePattern<OnnxAddOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(OnnxAddOp add,
                                PatternRewriter &rewriter) const override {
    for (unsigned side = 0; side < 2; ++side) {
      auto base = add->getOperand(side).getDefiningOp<LinearOp>();
      Value branch = add->getOperand(1 - side);
      if (base && succeeded(merge(add, base, branch, rewriter)))
        return success();
    }
    return failure();
  }

  LogicalResult merge(OnnxAddOp add, LinearOp base, Value branch,
                      PatternRewriter &rewriter) const {
    // The branch: [s *] linear(linear(x, A), B).
    double scale = 1.0;
    if (auto mul = branch.getDefiningOp<OnnxMulOp>()) {
      bool found = false;
      for (unsigned i = 0; i < 2 && !found; ++i)
        if (std::optional<double> s =
                raise::scalarConstant(mul->getOperand(i))) {
          scale = *s;
          branch = mul->getOperand(1 - i);
          found = true;
        }
      if (!found || !mul->hasOneUse())
        return failure();
    }
    auto up = branch.getDefiningOp<LinearOp>();
    if (!up || up.getBias() || !up->hasOneUse())
      return failure();
    auto down = up.getInput().getDefiningOp<LinearOp>();
    if (!down || down.getBias() || !down->hasOneUse() ||
        down.getInput() != base.getInput() || !base->hasOneUse())
      return failure();
    if (add.getType() != base.getType())
      return failure(); // the Add broadcasts: not a LoRA sum
    auto wType = dyn_cast<RankedTensorType>(base.getWeight().getType());
    auto aType = dyn_cast<RankedTensorType>(down.getWeight().getType());
    if (!wType || !aType || !wType.hasStaticShape() ||
        !aType.hasStaticShape())
      return failure();
    int64_t k = wType.getDimSize(0), n = wType.getDimSize(1),
            r = aType.getDimSize(1);
    auto w = matrix(base.getWeight(), k, n);
    auto a = matrix(down.getWeight(), k, r);
    auto b = matrix(up.getWeight(), r, n);
    if (!w || !a || !b)
      return failure();
    std::vector<double> delta(static_cast<size_t>(k * n), 0.0);
    addLowRank(delta, k, n, r, scale, [&](int64_t i, int64_t j) {
      return (*a)[i * r + j];
    }, [&](int64_t j, int64_t c) { return (*b)[j * n + c]; });
    Location loc = FusedLoc::get(rewriter.getContext(),
                                 {base.getLoc(), add.getLoc()});
    Value weight = mergedConstant(rewriter, loc, wType, *w, delta);
    rewriter.replaceOpWithNewOp<LinearOp>(add, add.getType(), base.getInput(),
                                          weight, base.getBias());
    return success();
  }
};

/// The deltas the adapters add to one linear; DoRA's magnitudes; (IA)3's
/// factors of its outputs (rows of PyTorch's weight, and the bias) and
/// inputs.
struct LinearDelta {
  std::vector<double> weight, bias;
  std::vector<double> magnitude, outScale, inScale;
};

struct LoRAMergePass
    : mlir::tailor::impl::TailorLoRAMergeBase<LoRAMergePass> {
  using TailorLoRAMergeBase::TailorLoRAMergeBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (!adapters.empty() && failed(mergeAdapters(module)))
      return signalPassFailure();
    RewritePatternSet patterns(&getContext());
    patterns.add<MergeLoRA>(&getContext());
    // Each merge is counted by comparing linear counts before and after.
    unsigned before = 0, after = 0;
    module.walk([&](LinearOp) { ++before; });
    if (failed(applyPatternsGreedily(module, std::move(patterns))))
      return signalPassFailure();
    module.walk([&](LinearOp) { ++after; });
    numMerged += (before - after) / 2;
  }

  LogicalResult mergeAdapters(ModuleOp module) {
    if (!adapterWeights.empty() && adapterWeights.size() != adapters.size())
      return emitError(module.getLoc(), "adapter-weights has ")
             << adapterWeights.size() << " value(s) for " << adapters.size()
             << " adapter(s); give one weight per adapter or none";
    // REGEX=>REPLACEMENT rewrites.
    std::vector<std::pair<std::unique_ptr<llvm::Regex>, std::string>> rewrites;
    for (const std::string &entry : moduleMap) {
      auto [pattern, replacement] = StringRef(entry).split("=>");
      if (pattern.size() == entry.size())
        return emitError(module.getLoc(), "module-map entry '")
               << entry << "' is not REGEX=>REPLACEMENT";
      auto re = std::make_unique<llvm::Regex>(pattern);
      std::string why;
      if (!re->isValid(why))
        return emitError(module.getLoc(), "module-map pattern '")
               << pattern << "' is not a valid regular expression: " << why;
      rewrites.emplace_back(std::move(re), replacement.str());
    }

    // The linears with constant f32 [K, N] weights, by module path.
    llvm::StringMap<llvm::SmallVector<LinearOp>> byName;
    // An int8 weight (tailor-quantize) is merged in full precision and
    // re-quantized.
    module.walk([&](LinearOp linear) {
      auto type = dyn_cast<RankedTensorType>(linear.getWeight().getType());
      bool f32 = type && type.getElementType().isF32() &&
                 getConstantElements(linear.getWeight());
      bool int8 = type && isa<quant::QuantizedType>(type.getElementType()) &&
                  linear.getWeight().getDefiningOp<quant::StorageCastOp>();
      if (!type || type.getRank() != 2 || !type.hasStaticShape() ||
          !(f32 || int8))
        return;
      for (std::string &name : linearNames(linear))
        byName[name].push_back(linear);
    });

    llvm::MapVector<Operation *, LinearDelta> deltas;
    for (auto [index, path] : llvm::enumerate(adapters)) {
      llvm::Expected<peft::Adapter> adapter = peft::readAdapter(path);
      if (!adapter)
        return emitError(module.getLoc(), "cannot merge LoRA adapter: ")
               << llvm::toString(adapter.takeError());
      double weight = adapterWeights.empty() ? 1.0 : adapterWeights[index];
      for (const peft::LoRAModule &m : adapter->modules) {
        std::string name = m.name;
        for (auto &[re, replacement] : rewrites)
          name = re->sub(replacement, name);
        auto it = byName.find(name);
        if (it == byName.end()) {
          InFlightDiagnostic diag = emitError(module.getLoc(), "LoRA adapter '")
                                    << path << "': module '" << m.name << "'";
          if (name != m.name)
            diag << " (mapped to '" << name << "')";
          diag << " is not a linear of the model (unknown target module)";
          std::vector<StringRef> known;
          for (auto &entry : byName)
            known.push_back(entry.getKey());
          llvm::sort(known);
          if (!known.empty()) {
            diag << "; the model's linears are named like '" << known.front()
                 << "'";
            if (known.size() > 1)
              diag << ", '" << known.back() << "'";
            diag << " (" << known.size()
                 << " names; module-map rewrites adapter names)";
          }
          return diag;
        }
        for (LinearOp linear : it->second) {
          auto type = cast<RankedTensorType>(linear.getWeight().getType());
          int64_t k = type.getDimSize(0), n = type.getDimSize(1);
          if (!m.ia3.empty()) {
            // (IA)3: W [in, out] scaled per column (output) or row (input),
            // after every additive (LoRA) delta.
            if (weight != 1.0)
              return linear.emitError("(IA)3 adapter '")
                     << path << "': an adapter weight other than 1 has no "
                     << "meaning for a scaling vector";
            int64_t size = m.ia3Input ? k : n;
            if (int64_t(m.ia3.size()) != size)
              return linear.emitError("(IA)3 adapter '")
                     << path << "': module '" << m.name << "' scales "
                     << m.ia3.size() << (m.ia3Input ? " inputs" : " outputs")
                     << ", but this linear's weight is [" << k << " x " << n
                     << "] (in x out)";
            LinearDelta &delta = deltas[linear];
            auto &scale = m.ia3Input ? delta.inScale : delta.outScale;
            if (scale.empty())
              scale.assign(size_t(size), 1.0);
            for (int64_t i = 0; i < size; ++i)
              scale[i] *= m.ia3[i];
            continue;
          }
          if (k != m.in || n != m.out)
            return linear.emitError("LoRA adapter '")
                   << path << "': module '" << m.name << "' adapts a ["
                   << m.out << " x " << m.in << "] (out x in) weight, but this "
                   << "linear's weight is [" << k << " x " << n
                   << "] (in x out)";
          LinearDelta &delta = deltas[linear];
          if (!m.magnitude.empty() || !delta.magnitude.empty()) {
            // DoRA rescales the merged weight's rows: one adapter alone.
            if (!delta.weight.empty() || weight != 1.0)
              return linear.emitError("DoRA adapter '")
                     << path << "': module '" << m.name
                     << "' can only be merged alone, with weight 1 (its "
                        "magnitudes rescale the merged weight)";
            delta.magnitude.assign(m.magnitude.begin(), m.magnitude.end());
          }
          if (delta.weight.empty())
            delta.weight.assign(size_t(k * n), 0.0);
          // (B.A)^T[i, c] = sum_j A[j, i] * B[c, j].
          int64_t r = m.rank;
          addLowRank(delta.weight, k, n, r, weight * m.scale,
                     [&](int64_t i, int64_t j) { return m.a[j * k + i]; },
                     [&](int64_t j, int64_t c) { return m.b[c * r + j]; });
          if (!m.bias.empty()) {
            if (delta.bias.empty())
              delta.bias.assign(size_t(n), 0.0);
            for (int64_t c = 0; c < n; ++c)
              delta.bias[c] += weight * m.scale * m.bias[c];
          }
        }
        ++numAdapterModules;
      }
    }

    OpBuilder builder(module.getContext());
    for (auto &[op, delta] : deltas) {
      auto linear = cast<LinearOp>(op);
      builder.setInsertionPoint(linear);
      auto wType = cast<RankedTensorType>(linear.getWeight().getType());
      int64_t k = wType.getDimSize(0), n = wType.getDimSize(1);
      bool quantized = isa<quant::QuantizedType>(wType.getElementType());
      auto w = quantized ? dequantizeInt8Weight(linear.getWeight())
                         : matrix(linear.getWeight(), k, n);
      if (!w)
        return linear.emitError("cannot read this linear's weight to merge a "
                                "LoRA adapter into it (merged: f32 weights "
                                "and int8 per-channel weights)");
      // W + delta, DoRA's rescaling of each output (a column of the
      // [in, out] weight) to its magnitude, then (IA)3's factors.
      std::vector<double> full(w->size());
      for (size_t i = 0; i < full.size(); ++i)
        full[i] =
            double((*w)[i]) + (delta.weight.empty() ? 0.0 : delta.weight[i]);
      if (!delta.magnitude.empty())
        for (int64_t c = 0; c < n; ++c) {
          double sq = 0;
          for (int64_t i = 0; i < k; ++i)
            sq += full[i * n + c] * full[i * n + c];
          double factor = delta.magnitude[c] / std::sqrt(sq);
          for (int64_t i = 0; i < k; ++i)
            full[i * n + c] *= factor;
        }
      for (int64_t i = 0; i < k; ++i)
        for (int64_t c = 0; c < n; ++c) {
          if (!delta.outScale.empty())
            full[i * n + c] *= delta.outScale[c];
          if (!delta.inScale.empty())
            full[i * n + c] *= delta.inScale[i];
        }
      std::vector<float> merged(full.size());
      for (size_t i = 0; i < full.size(); ++i) {
        merged[i] = float(full[i]);
        if (!std::isfinite(merged[i]))
          return linear.emitError("merging the adapters gives a non-finite "
                                  "weight (NaN or infinity in an adapter?)");
      }
      Value weight =
          quantized ? buildInt8Weight(builder, linear.getLoc(), merged, k, n)
                    : mergedConstant(builder, linear.getLoc(), wType, merged,
                                     std::vector<double>(merged.size(), 0.0));
      Value bias = linear.getBias();
      if (!delta.outScale.empty() && bias && delta.bias.empty())
        delta.bias.assign(size_t(n), 0.0);
      if (!delta.bias.empty()) {
        auto bType =
            RankedTensorType::get({n}, getElementTypeOrSelf(linear.getType()));
        std::vector<float> old(size_t(n), 0.0f);
        if (bias) {
          auto values = matrix(bias, 1, n, /*vector=*/true);
          if (!values)
            return linear.emitError("cannot add lora_B.bias to this linear's "
                                    "bias: it is not a constant [N] tensor");
          old = std::move(*values);
        }
        std::vector<double> sum(static_cast<size_t>(n));
        for (int64_t c = 0; c < n; ++c)
          sum[c] = (double(old[c]) + delta.bias[c]) *
                   (delta.outScale.empty() ? 1.0 : delta.outScale[c]);
        bias = mergedConstant(builder, linear.getLoc(), bType,
                              std::vector<float>(size_t(n), 0.0f), sum);
      }
      auto adapted = LinearOp::create(
          builder, linear.getLoc(), linear.getType(), linear.getInput(), weight,
          bias, linear.getActivationQuantAttr());
      linear.replaceAllUsesWith(adapted.getResult());
      linear.erase();
    }
    return success();
  }
};
} // namespace
