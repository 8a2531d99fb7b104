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

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/SetVector.h"
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
      if (pattern == "ffn-channels" || pattern == "heads")
        return fail("method=wanda prunes weights (unstructured or N:M), "
                    "not " + pattern);
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
    if (pattern == "heads")
      return pruneHeads(module);
    int64_t n = 0, m = 0;
    if (pattern != "unstructured") {
      auto [ns, ms] = StringRef(pattern).split(':');
      if (ns.getAsInteger(10, n) || ms.getAsInteger(10, m) || n < 1 ||
          m <= n)
        return fail("unknown pattern '" + pattern +
                    "' (unstructured, N:M with 0 < N < M, ffn-channels, "
                    "heads)");
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

  /// One projection of an attention block: linear -> Reshape [B, S, H, D]
  /// (shape = Concat(b, s, const H, const D)) -> Transpose (0, 2, 1, 3) ->
  /// optional rotary, each used once, ending at `end`.
  struct Projection {
    LinearOp linear;
    OnnxReshapeOp reshape;
    OnnxConcatOp shape;
    OnnxTransposeOp transpose;
    RotaryOp rotary;
    Value end;
    std::vector<float> w, bias;
    int64_t k = 0, heads = 0;
  };

  static bool isRanked(Value v, int64_t rank) {
    auto t = dyn_cast<RankedTensorType>(v.getType());
    return t && t.getRank() == rank;
  }

  static bool isSwap12(OnnxTransposeOp t) {
    return t && t.getPerm() && llvm::equal(*t.getPerm(),
                                           ArrayRef<int64_t>{0, 2, 1, 3});
  }

  /// The constant integer of a [1] i64 tensor, if it is one.
  static std::optional<int64_t> constantIndex(Value v) {
    ElementsAttr attr = getConstantElements(v);
    DenseElementsAttr dense = attr ? toDenseElements(attr) : nullptr;
    if (!dense || dense.getNumElements() != 1 ||
        !dense.getElementType().isInteger(64))
      return std::nullopt;
    return (*dense.getValues<APInt>().begin()).getSExtValue();
  }

  /// Walks a projection back from `v` (the attention's operand, or the new
  /// half of the cache Concat).
  std::optional<Projection> projection(Value v, int64_t d) {
    Projection p;
    p.end = v;
    if (!v.hasOneUse())
      return std::nullopt;
    if ((p.rotary = v.getDefiningOp<RotaryOp>())) {
      v = p.rotary.getInput();
      if (!v.hasOneUse())
        return std::nullopt;
    }
    if (p.rotary && !isRanked(p.rotary->getResult(0), 4))
      return std::nullopt;
    p.transpose = v.getDefiningOp<OnnxTransposeOp>();
    if (!isSwap12(p.transpose) || !p.transpose->getOperand(0).hasOneUse() ||
        !isRanked(p.transpose->getResult(0), 4))
      return std::nullopt;
    p.reshape = p.transpose->getOperand(0).getDefiningOp<OnnxReshapeOp>();
    if (!p.reshape || !p.reshape->getOperand(0).hasOneUse())
      return std::nullopt;
    p.shape = p.reshape->getOperand(1).getDefiningOp<OnnxConcatOp>();
    auto type = dyn_cast<RankedTensorType>(p.reshape.getType());
    if (!p.shape || p.shape->getNumOperands() != 4 || !type ||
        type.getRank() != 4 || type.isDynamicDim(2) || type.getDimSize(3) != d)
      return std::nullopt;
    p.heads = type.getDimSize(2);
    if (constantIndex(p.shape->getOperand(2)) != p.heads ||
        constantIndex(p.shape->getOperand(3)) != d)
      return std::nullopt;
    p.linear = p.reshape->getOperand(0).getDefiningOp<LinearOp>();
    if (!p.linear || isExcluded(p.linear) || p.linear.getActivationQuant() ||
        !isa<RankedTensorType>(p.linear.getType()))
      return std::nullopt;
    auto wType = dyn_cast<RankedTensorType>(p.linear.getWeight().getType());
    auto w = constantFloats(p.linear.getWeight());
    if (!wType || !w || wType.getDimSize(1) != p.heads * d)
      return std::nullopt;
    p.k = wType.getDimSize(0);
    p.w = std::move(*w);
    if (p.linear.getBias()) {
      auto b = constantFloats(p.linear.getBias());
      if (!b)
        return std::nullopt;
      p.bias = std::move(*b);
    }
    return p;
  }

  /// `t` with dim `dim` set to `n`.
  static Type withDim(Type t, int64_t dim, int64_t n) {
    auto r = cast<RankedTensorType>(t);
    SmallVector<int64_t> shape(r.getShape());
    shape[dim] = n;
    return r.clone(shape);
  }

  /// A [1] i64 constant.
  static Value indexConstant(OpBuilder &b, Location loc, int64_t v) {
    auto type = RankedTensorType::get({1}, b.getI64Type());
    return OnnxConstantOp::create(
        b, loc, type, DenseElementsAttr::get(type, ArrayRef<int64_t>{v}),
        nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
  }

  /// Keeps heads `kept` (each `d` columns) of a projection.
  void shrink(OpBuilder &b, Projection &p, ArrayRef<int64_t> kept, int64_t d) {
    SmallVector<int64_t> cols;
    for (int64_t h : kept)
      for (int64_t i = 0; i < d; ++i)
        cols.push_back(h * d + i);
    int64_t n = p.heads * d, h2 = kept.size();
    b.setInsertionPoint(p.linear);
    p.linear->setOperand(1, constant(b, p.linear.getWeight().getLoc(),
                                     {p.k, int64_t(cols.size())},
                                     columns(p.w, p.k, n, cols)));
    if (p.linear.getBias())
      p.linear->setOperand(2, constant(b, p.linear.getBias().getLoc(),
                                       {int64_t(cols.size())},
                                       columns(p.bias, 1, n, cols)));
    p.linear->getResult(0).setType(
        withLastDim(p.linear.getType(), int64_t(cols.size())));
    // A fresh shape (the Concat and its constants may be shared).
    b.setInsertionPoint(p.reshape);
    Value heads = indexConstant(b, p.shape.getLoc(), h2);
    Operation *shape = b.clone(*p.shape);
    shape->setOperand(2, heads);
    p.reshape->setOperand(1, shape->getResult(0));
    p.reshape->getResult(0).setType(withDim(p.reshape.getType(), 2, h2));
    p.transpose->getResult(0).setType(withDim(p.transpose.getType(), 1, h2));
    if (p.rotary)
      p.rotary->getResult(0).setType(withDim(p.rotary.getType(), 1, h2));
  }

  void pruneHeads(ModuleOp module) {
    SmallVector<AttentionOp> atts;
    module.walk([&](AttentionOp a) { atts.push_back(a); });
    OpBuilder b(module.getContext());
    llvm::SetVector<func::FuncOp> changed; // cache arguments shrank
    for (AttentionOp att : atts) {
      if (att.getPastKey() || !att->hasOneUse())
        continue;
      auto qType = dyn_cast<RankedTensorType>(att.getQuery().getType());
      if (!qType || qType.getRank() != 4 || qType.isDynamicDim(3))
        continue;
      int64_t d = qType.getDimSize(3);
      // A mask with a query-head dimension (broadcast to [B, Hq, S, T])
      // would need pruning too: such blocks are left alone.
      if (Value mask = att.getMask()) {
        auto mt = dyn_cast<RankedTensorType>(mask.getType());
        if (!mt || (mt.getRank() >= 3 && mt.getDimSize(mt.getRank() - 3) != 1))
          continue;
      }
      // The cache: Concat(past argument of the entry function, new) on the
      // sequence axis; the argument and the Concat feed nothing but the
      // attention, the return and Shape ops (whose results keep their type).
      auto onlyShapeUsers = [&](Value v, Operation *allowed) {
        return llvm::all_of(v.getUsers(), [&](Operation *user) {
          return user == allowed || isa<OnnxShapeOp, func::ReturnOp>(user);
        });
      };
      auto cached = [&](Value v, OnnxConcatOp &cat) -> Value {
        cat = v.getDefiningOp<OnnxConcatOp>();
        if (!cat)
          return v;
        int64_t axis = cat.getAxis();
        auto past = dyn_cast<BlockArgument>(cat->getOperand(0));
        auto fn = past ? dyn_cast<func::FuncOp>(past.getOwner()->getParentOp())
                       : func::FuncOp();
        if (cat->getNumOperands() != 2 || (axis != 2 && axis != -2) || !fn ||
            !past.getOwner()->isEntryBlock() || !isRanked(past, 4) ||
            !isRanked(cat->getResult(0), 4) ||
            !SymbolTable::symbolKnownUseEmpty(fn, module) ||
            !onlyShapeUsers(past, cat) ||
            !onlyShapeUsers(cat->getResult(0), att))
          return Value();
        return cat->getOperand(1);
      };
      OnnxConcatOp kCat, vCat;
      Value kNew = cached(att.getKey(), kCat), vNew = cached(att.getValue(), vCat);
      if (!kNew || !vNew || bool(kCat) != bool(vCat))
        continue;
      auto q = projection(att.getQuery(), d);
      auto k = projection(kNew, d);
      auto v = projection(vNew, d);
      if (!q || !k || !v || bool(q->rotary) != bool(k->rotary) || v->rotary ||
          k->heads != v->heads || k->heads < 2 || q->heads % k->heads)
        continue;
      // The output: Transpose -> Reshape (shape Concat(b, s, const Hq*D))
      // -> the o linear.
      auto outT = dyn_cast<OnnxTransposeOp>(*att->user_begin());
      if (!isSwap12(outT) || !outT->hasOneUse() ||
          !isRanked(att->getResult(0), 4) || !isRanked(outT->getResult(0), 4))
        continue;
      auto outR = dyn_cast<OnnxReshapeOp>(*outT->user_begin());
      if (!outR || outR->getOperand(0) != outT.getResult() ||
          !outR->hasOneUse() || !isRanked(outR->getResult(0), 3))
        continue;
      auto outShape = outR->getOperand(1).getDefiningOp<OnnxConcatOp>();
      int64_t hq = q->heads, hkv = k->heads, g = hq / hkv;
      if (!outShape || outShape->getNumOperands() != 3 ||
          constantIndex(outShape->getOperand(2)) != hq * d)
        continue;
      auto o = dyn_cast<LinearOp>(*outR->user_begin());
      if (!o || o.getInput() != outR.getResult() || isExcluded(o) ||
          o.getActivationQuant())
        continue;
      auto oType = dyn_cast<RankedTensorType>(o.getWeight().getType());
      auto wo = constantFloats(o.getWeight());
      if (!oType || !wo || oType.getDimSize(0) != hq * d)
        continue;
      int64_t dm = oType.getDimSize(1);
      int64_t drop = std::min<int64_t>(
          hkv - 1, int64_t(std::llround(sparsity * double(hkv))));
      if (drop <= 0)
        continue;
      // Scores per key/value head j (its group of query heads).
      auto colNorm = [&](const Projection &p, int64_t h) {
        double s = 0;
        for (int64_t r = 0; r < p.k; ++r)
          for (int64_t i = 0; i < d; ++i) {
            double x = p.w[r * p.heads * d + h * d + i];
            s += x * x;
          }
        return std::sqrt(s);
      };
      std::vector<double> score(hkv, 0.0);
      for (int64_t j = 0; j < hkv; ++j) {
        for (int64_t h = j * g; h < (j + 1) * g; ++h) {
          double rows = 0;
          for (int64_t r = h * d; r < (h + 1) * d; ++r)
            for (int64_t c = 0; c < dm; ++c)
              rows += double((*wo)[r * dm + c]) * (*wo)[r * dm + c];
          score[j] += colNorm(*q, h) * std::sqrt(rows);
        }
        score[j] += colNorm(*k, j) * colNorm(*v, j);
      }
      SmallVector<int64_t> groups(hkv);
      std::iota(groups.begin(), groups.end(), 0);
      std::sort(groups.begin(), groups.end(), [&](int64_t a, int64_t z) {
        return score[a] > score[z] || (score[a] == score[z] && a < z);
      });
      groups.resize(hkv - drop);
      llvm::sort(groups);
      SmallVector<int64_t> qHeads;
      for (int64_t j : groups)
        for (int64_t h = j * g; h < (j + 1) * g; ++h)
          qHeads.push_back(h);
      int64_t hq2 = qHeads.size(), hkv2 = groups.size();
      shrink(b, *q, qHeads, d);
      shrink(b, *k, groups, d);
      shrink(b, *v, groups, d);
      for (OnnxConcatOp cat : {kCat, vCat}) {
        if (!cat)
          continue;
        auto past = cast<BlockArgument>(cat->getOperand(0));
        past.setType(withDim(past.getType(), 1, hkv2));
        cat->getResult(0).setType(withDim(cat.getType(), 1, hkv2));
        changed.insert(cast<func::FuncOp>(past.getOwner()->getParentOp()));
      }
      att->getResult(0).setType(withDim(att.getType(), 1, hq2));
      outT->getResult(0).setType(withDim(outT.getType(), 2, hq2));
      b.setInsertionPoint(outR);
      Value width = indexConstant(b, outShape.getLoc(), hq2 * d);
      Operation *shape = b.clone(*outShape);
      shape->setOperand(2, width);
      outR->setOperand(1, shape->getResult(0));
      outR->getResult(0).setType(withLastDim(outR.getType(), hq2 * d));
      SmallVector<int64_t> oRows;
      for (int64_t h : qHeads)
        for (int64_t i = 0; i < d; ++i)
          oRows.push_back(h * d + i);
      b.setInsertionPoint(o);
      o->setOperand(1, constant(b, o.getWeight().getLoc(),
                                {int64_t(oRows.size()), dm},
                                rows(*wo, dm, oRows)));
      numHeads += hq - hq2;
    }
    // The KV cache arguments and results changed shape (functions nothing
    // calls; every return returns the same types).
    for (func::FuncOp f : changed) {
      SmallVector<Type> results(f.getResultTypes());
      f.walk([&](func::ReturnOp ret) {
        results.assign(ret.getOperandTypes().begin(),
                       ret.getOperandTypes().end());
      });
      f.setType(f.getFunctionType().clone(f.getBody().getArgumentTypes(),
                                          results));
    }
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
