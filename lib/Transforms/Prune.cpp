//===- Prune.cpp - Magnitude pruning of linear weights --------------------===//
//
// Unstructured and N:M pruning zero weights in place (new constants);
// ffn-channels removes whole hidden channels of SwiGLU / GELU blocks, so
// every dependent weight, bias and shape shrinks.

#include "tailor/Dialect/Tailor.h"
#include "tailor/Transforms/Passes.h"

#include "tailor/Transforms/LinearNames.h"
#include "QuantizedWeights.h"
#include "tailor/Support/SafeTensors.h"

#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/Support/Regex.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <cmath>
#include <numeric>

namespace mlir::tailor {
#define GEN_PASS_DEF_TAILORPRUNE
#include "dialects/Tailor/Passes.h.inc"
} // namespace mlir::tailor

using namespace mlir;
using namespace mlir::tailor;

namespace {
Value constant(OpBuilder &b, Location loc, ArrayRef<int64_t> shape,
               ArrayRef<float> data) {
  auto type = RankedTensorType::get(shape, b.getF32Type());
  auto attr = DenseResourceElementsAttr::get(
      type, "tailor_pruned",
      HeapAsmResourceBlob::allocateAndCopyInferAlign(data,
                                                     /*dataIsMutable=*/false));
  return OnnxConstantOp::create(b, loc, type, attr, nullptr, nullptr, nullptr,
                                nullptr, nullptr, nullptr);
}

/// `x`'s type with its last dim set to `n`.
Type withLastDim(Type t, int64_t n) {
  auto r = cast<RankedTensorType>(t);
  SmallVector<int64_t> shape(r.getShape());
  shape.back() = n;
  return r.clone(shape);
}

struct PrunePass : mlir::tailor::impl::TailorPruneBase<PrunePass> {
  using TailorPruneBase::TailorPruneBase;

  std::vector<std::shared_ptr<llvm::Regex>> excluded;
  /// Wanda: ||x_k|| per input channel, by linear key.
  std::map<std::string, std::vector<double>> norms;

  bool isExcluded(LinearOp linear) {
    for (const std::string &name : linearNames(linear))
      for (auto &re : excluded)
        if (re->match(name))
          return true;
    return false;
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto fail = [&](const Twine &message) {
      emitError(module.getLoc()) << "tailor-prune: " << message;
      signalPassFailure();
    };
    if (method != "magnitude" && method != "wanda")
      return fail("unknown method '" + method + "' (magnitude, wanda)");
    if (method == "wanda") {
      if (calibration.empty())
        return fail("method=wanda needs calibration statistics "
                    "(calibration=FILE from tailor-calibrate)");
      if (pattern == "ffn-channels")
        return fail("method=wanda prunes weights (unstructured or N:M), "
                    "not ffn-channels");
      auto file = safetensors::File::read(calibration);
      if (!file)
        return fail("cannot read calibration: " +
                    llvm::toString(file.takeError()));
      for (const safetensors::TensorInfo &t : file->tensors()) {
        StringRef name(t.name);
        if (!name.consume_back(".sumsq") || t.dtype != safetensors::DType::F32 ||
            t.shape.size() != 1)
          continue;
        std::vector<float> v(t.numElements());
        std::memcpy(v.data(), file->bytes(t).data(), v.size() * 4);
        norms[name.str()] = std::vector<double>(v.begin(), v.end());
      }
      for (auto &[key, v] : norms)
        for (double &x : v)
          x = std::sqrt(std::max(x, 0.0));
    }
    if (!(sparsity >= 0.0 && sparsity < 1.0))
      return fail("sparsity must be in [0, 1), got " +
                  std::to_string(double(sparsity)));
    if (multiple < 1)
      return fail("multiple must be >= 1");
    for (const std::string &pattern : exclude) {
      auto re = std::make_shared<llvm::Regex>("^(" + pattern + ")$");
      std::string why;
      if (!re->isValid(why))
        return fail("exclude pattern '" + pattern +
                    "' is not a valid regular expression: " + why);
      excluded.push_back(std::move(re));
    }
    if (pattern == "ffn-channels")
      return pruneChannels(module);
    int64_t n = 0, m = 0;
    if (pattern != "unstructured") {
      auto [ns, ms] = StringRef(pattern).split(':');
      if (ns.getAsInteger(10, n) || ms.getAsInteger(10, m) || n < 1 ||
          m <= n)
        return fail("unknown pattern '" + pattern +
                    "' (unstructured, N:M with 0 < N < M, ffn-channels)");
    }
    SmallVector<std::pair<LinearOp, std::string>> linears;
    for (auto &[linear, key] : calibratedLinears(module))
      if (!isExcluded(linear))
        linears.emplace_back(linear, key);
    OpBuilder b(module.getContext());
    for (auto &[linear, key] : linears) {
      auto type = cast<RankedTensorType>(linear.getWeight().getType());
      int64_t k = type.getDimSize(0), cols = type.getDimSize(1);
      auto maybe = constantFloats(linear.getWeight());
      if (!maybe)
        continue;
      std::vector<float> w = std::move(*maybe);
      // The score of w[r, c]: |w| (magnitude) or |w| * ||x_r|| (Wanda).
      std::vector<double> score(w.size());
      if (method == "wanda") {
        auto it = norms.find(key);
        if (it == norms.end() || int64_t(it->second.size()) != k) {
          linear.emitError("tailor-prune: the calibration file has no ")
              << (it == norms.end() ? "" : "matching ")
              << "statistics for linear '" << key << "' (" << k
              << " inputs); was it calibrated on this model?";
          return signalPassFailure();
        }
        for (int64_t r = 0; r < k; ++r)
          for (int64_t c = 0; c < cols; ++c)
            score[r * cols + c] = std::fabs(w[r * cols + c]) * it->second[r];
      } else {
        for (size_t i = 0; i < w.size(); ++i)
          score[i] = std::fabs(w[i]);
      }
      if (m) {
        if (k % m)
          continue; // K not a multiple of M: left dense
        // Per output column, groups of M consecutive inputs (rows).
        std::vector<int64_t> idx(m);
        for (int64_t c = 0; c < cols; ++c)
          for (int64_t r0 = 0; r0 < k; r0 += m) {
            std::iota(idx.begin(), idx.end(), 0);
            // Ties keep the earlier input (a total order: std::sort is
            // deterministic).
            std::sort(idx.begin(), idx.end(), [&](int64_t a, int64_t z) {
              double sa = score[(r0 + a) * cols + c],
                     sz = score[(r0 + z) * cols + c];
              return sa < sz || (sa == sz && a > z);
            });
            for (int64_t i = 0; i < m - n; ++i)
              w[(r0 + idx[i]) * cols + c] = 0.0f;
          }
        numZeroed += k * cols / m * (m - n);
      } else if (method == "wanda") {
        // Per output (column): the lowest-scoring sparsity * K inputs.
        int64_t drop = int64_t(std::floor(sparsity * double(k)));
        if (drop == 0)
          continue;
        std::vector<int64_t> order(k);
        for (int64_t c = 0; c < cols; ++c) {
          std::iota(order.begin(), order.end(), 0);
          std::nth_element(order.begin(), order.begin() + drop, order.end(),
                           [&](int64_t a, int64_t z) {
                             return score[a * cols + c] < score[z * cols + c];
                           });
          for (int64_t i = 0; i < drop; ++i)
            w[order[i] * cols + c] = 0.0f;
        }
        numZeroed += drop * cols;
      } else {
        // Magnitude: per layer, as WANDA's prune_magnitude baseline.
        int64_t drop = int64_t(std::floor(sparsity * double(w.size())));
        if (drop == 0)
          continue;
        std::vector<int64_t> order(w.size());
        std::iota(order.begin(), order.end(), 0);
        std::nth_element(order.begin(), order.begin() + drop, order.end(),
                         [&](int64_t a, int64_t z) {
                           return score[a] < score[z];
                         });
        for (int64_t i = 0; i < drop; ++i)
          w[order[i]] = 0.0f;
        numZeroed += drop;
      }
      b.setInsertionPoint(linear);
      linear.getWeightMutable().assign(
          constant(b, linear.getWeight().getLoc(), type.getShape(), w));
    }
  }

  /// The hidden channels to keep, by descending score, back in order.
  SmallVector<int64_t> keep(ArrayRef<double> scores) {
    int64_t f = scores.size();
    int64_t kept = f - int64_t(std::llround(sparsity * double(f)));
    kept = std::max<int64_t>(multiple, kept / multiple * multiple);
    if (kept >= f)
      return {};
    SmallVector<int64_t> order(f);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int64_t a, int64_t z) {
      return scores[a] > scores[z] || (scores[a] == scores[z] && a < z);
    });
    order.resize(kept);
    llvm::sort(order);
    return order;
  }

  /// Columns `cols` of the [k, n] matrix `w`.
  static std::vector<float> columns(ArrayRef<float> w, int64_t k, int64_t n,
                                    ArrayRef<int64_t> cols) {
    std::vector<float> out;
    out.reserve(k * cols.size());
    for (int64_t r = 0; r < k; ++r)
      for (int64_t c : cols)
        out.push_back(w[r * n + c]);
    return out;
  }

  static std::vector<float> rows(ArrayRef<float> w, int64_t n,
                                 ArrayRef<int64_t> which) {
    std::vector<float> out;
    out.reserve(which.size() * n);
    for (int64_t r : which)
      out.insert(out.end(), w.begin() + r * n, w.begin() + (r + 1) * n);
    return out;
  }

  /// The L2 norm of every row (`byRow`) or column of the [k, n] `w`.
  static std::vector<double> l2Norms(ArrayRef<float> w, int64_t k, int64_t n,
                                     bool byRow) {
    std::vector<double> s(byRow ? k : n, 0.0);
    for (int64_t r = 0; r < k; ++r)
      for (int64_t c = 0; c < n; ++c)
        s[byRow ? r : c] += double(w[r * n + c]) * w[r * n + c];
    for (double &v : s)
      v = std::sqrt(v);
    return s;
  }

  /// An up-projection of a block: a linear with a constant [D, F] weight
  /// (and optional constant bias) used only by `user`.
  static bool isUp(LinearOp l, Operation *user) {
    return l && l->hasOneUse() && *l->user_begin() == user &&
           getConstantElements(l.getWeight()) &&
           (!l.getBias() || getConstantElements(l.getBias()));
  }

  void pruneChannels(ModuleOp module) {
    SmallVector<Operation *> acts;
    module.walk([&](Operation *op) {
      if (isa<SwiGLUOp, GeluOp>(op))
        acts.push_back(op);
    });
    OpBuilder b(module.getContext());
    for (Operation *act : acts) {
      if (!act->hasOneUse())
        continue;
      auto down = dyn_cast<LinearOp>(*act->user_begin());
      if (!down || down.getInput() != act->getResult(0) ||
          !getConstantElements(down.getWeight()) || isExcluded(down))
        continue;
      SmallVector<LinearOp> ups;
      for (Value in : act->getOperands().take_front(isa<SwiGLUOp>(act) ? 2 : 1))
        ups.push_back(in.getDefiningOp<LinearOp>());
      if (!llvm::all_of(ups, [&](LinearOp l) {
            return isUp(l, act) && !isExcluded(l);
          }))
        continue;
      if (isa<GeluOp>(act) && act->getNumOperands() != 1)
        continue;
      auto dType = cast<RankedTensorType>(down.getWeight().getType());
      int64_t f = dType.getDimSize(0), d = dType.getDimSize(1);
      auto wd = constantFloats(down.getWeight());
      if (!wd)
        continue;
      std::vector<double> score = l2Norms(*wd, f, d, /*byRow=*/true);
      SmallVector<std::vector<float>> upW;
      bool ok = true;
      for (LinearOp up : ups) {
        auto t = cast<RankedTensorType>(up.getWeight().getType());
        auto w = constantFloats(up.getWeight());
        if (!w || t.getDimSize(1) != f) {
          ok = false;
          break;
        }
        std::vector<double> cols =
            l2Norms(*w, t.getDimSize(0), f, /*byRow=*/false);
        for (int64_t c = 0; c < f; ++c)
          score[c] *= cols[c];
        upW.push_back(std::move(*w));
      }
      if (!ok)
        continue;
      SmallVector<int64_t> kept = keep(score);
      if (kept.empty())
        continue;
      int64_t fk = kept.size();
      b.setInsertionPoint(act);
      SmallVector<Value> newUps;
      for (auto [up, w] : llvm::zip(ups, upW)) {
        int64_t k = cast<RankedTensorType>(up.getWeight().getType()).getDimSize(0);
        Value weight = constant(b, up.getWeight().getLoc(), {k, fk},
                                columns(w, k, f, kept));
        Value bias;
        if (up.getBias()) {
          auto bv = constantFloats(up.getBias());
          if (!bv)
            return signalPassFailure();
          bias = constant(b, up.getBias().getLoc(), {fk},
                          columns(*bv, 1, f, kept));
        }
        newUps.push_back(LinearOp::create(
            b, up.getLoc(), withLastDim(up.getType(), fk), up.getInput(),
            weight, bias));
      }
      Operation *newAct = b.clone(*act);
      newAct->setOperands(newUps);
      newAct->getResult(0).setType(withLastDim(act->getResult(0).getType(), fk));
      Value downW = constant(b, down.getWeight().getLoc(), {fk, d},
                             rows(*wd, d, kept));
      b.setInsertionPoint(down);
      auto newDown = LinearOp::create(b, down.getLoc(), down.getType(),
                                      newAct->getResult(0), downW,
                                      down.getBias());
      down.replaceAllUsesWith(newDown.getResult());
      down.erase();
      act->erase();
      for (LinearOp up : ups)
        up.erase();
      numChannels += f - fk;
    }
  }
};
} // namespace
