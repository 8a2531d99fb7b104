//===- Peft.cpp - Trainable weights for fine-tuning ------------------------===//
//
// method=full: the matching weight constants become arguments of the entry
// (named after their initializer, or their MatMul's module), so that
// tailor-autodiff differentiates with respect to them and a training step
// can feed updated values.

#include "tailor/Support/PeftAdapter.h"
#include "tailor/Transforms/Entry.h"
#include "tailor/Transforms/Passes.h"

#include "llvm/ADT/BitVector.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Regex.h"
#include <cmath>
#include <limits>

namespace mlir::tailor {
#define GEN_PASS_DEF_TAILORPEFT
#include "dialects/Tailor/Passes.h.inc"
} // namespace mlir::tailor

using namespace mlir;
using namespace mlir::tailor;

namespace {
/// A float32 constant's values (dense or resource).
std::optional<std::vector<float>> constantValues(OnnxConstantOp c) {
  if (!c)
    return std::nullopt;
  Attribute v = c.getValueAttr();
  if (auto res = dyn_cast_or_null<DenseF32ResourceElementsAttr>(v))
    if (auto data = res.tryGetAsArrayRef())
      return std::vector<float>(data->begin(), data->end());
  if (auto dense = dyn_cast_or_null<DenseFPElementsAttr>(v))
    if (dense.getElementType().isF32())
      return std::vector<float>(dense.getValues<float>().begin(),
                                dense.getValues<float>().end());
  return std::nullopt;
}

struct PeftPass : mlir::tailor::impl::TailorPeftBase<PeftPass> {
  using Base::Base;

  /// The MatMuls with a constant [K, N] float weight whose module (named
  /// after the node) matches `targets` (none: every one) and no `excluded`.
  SmallVector<std::pair<OnnxMatMulOp, std::string>>
  matmulSites(func::FuncOp fn, const std::vector<llvm::Regex> &targets,
              const std::vector<llvm::Regex> &excluded) {
    SmallVector<std::pair<OnnxMatMulOp, std::string>> sites;
    fn.walk([&](OnnxMatMulOp mm) {
      auto w = mm.getB().getDefiningOp<OnnxConstantOp>();
      auto node = dyn_cast<NameLoc>(mm.getLoc());
      auto wt = dyn_cast<RankedTensorType>(mm.getB().getType());
      auto xt = dyn_cast<RankedTensorType>(mm.getA().getType());
      if (!w || !node || !wt || !xt || wt.getRank() != 2 ||
          xt.getRank() < 2 || !isa<FloatType>(wt.getElementType()) ||
          wt.isDynamicDim(0) || wt.isDynamicDim(1))
        return;
      std::string module = peft::modulePathOfNode(node.getName());
      if (module.empty())
        return;
      if ((!targets.empty() && !matchesAny(targets, module)) ||
          matchesAny(excluded, module))
        return;
      sites.push_back({mm, module});
    });
    return sites;
  }

  static bool matchesAny(const std::vector<llvm::Regex> &res, StringRef s) {
    return llvm::any_of(res,
                        [&](const llvm::Regex &re) { return re.match(s); });
  }

  /// A new trainable (or `frozen`) argument of the entry, `name`, of
  /// `type`, initialised by `init` (an initializer kind or the values).
  Value addParameter(func::FuncOp fn, StringRef name, RankedTensorType type,
                     Attribute init, Location loc, bool frozen = false) {
    MLIRContext *ctx = &getContext();
    unsigned index = fn.getNumArguments();
    SmallVector<NamedAttribute> list{
        NamedAttribute(StringAttr::get(ctx, "onnx.name"),
                       StringAttr::get(ctx, name)),
        NamedAttribute(StringAttr::get(ctx, "tailor.init"), init),
        NamedAttribute(
            StringAttr::get(ctx, frozen ? "tailor.frozen" : "tailor.trainable"),
            UnitAttr::get(ctx))};
    if (failed(fn.insertArgument(index, type, DictionaryAttr::get(ctx, list),
                                 loc)))
      return Value();
    ++numLifted;
    return fn.getArgument(index);
  }

  /// `from`'s uses other than the ops from `after`'s next to `last` (the
  /// adapter just built after it) read `to` instead.
  static void redirectUses(Value from, Value to, Operation *after,
                           Operation *last) {
    SmallPtrSet<Operation *, 16> newOps;
    for (Operation *op = after->getNextNode(); op; op = op->getNextNode()) {
      newOps.insert(op);
      if (op == last)
        break;
    }
    from.replaceUsesWithIf(
        to, [&](OpOperand &use) { return !newOps.contains(use.getOwner()); });
  }

  /// The bias Add right after a MatMul (its only user, with a constant
  /// [N] operand), or null.
  static OnnxAddOp biasAddOf(OnnxMatMulOp mm) {
    if (!mm->hasOneUse())
      return {};
    auto add = dyn_cast<OnnxAddOp>(*mm->user_begin());
    if (!add)
      return {};
    Value other = add.getA() == mm.getResult() ? add.getB() : add.getA();
    auto t = dyn_cast<RankedTensorType>(other.getType());
    if (!t || t.getRank() != 1 || !other.getDefiningOp<OnnxConstantOp>())
      return {};
    return add;
  }

  /// (IA)3 (arXiv 2205.05638, as PEFT defines it): a learned vector
  /// rescales a target linear's output, `<module>.ia3_l` [out, 1] (after
  /// the bias), or for a feed-forward module its input, [1, in]; all ones
  /// initially.
  LogicalResult injectIA3(func::FuncOp fn, std::vector<llvm::Regex> &targets,
                          std::vector<llvm::Regex> &excluded) {
    MLIRContext *ctx = &getContext();
    std::vector<llvm::Regex> ff;
    for (const std::string &p : feedforward)
      ff.emplace_back(p);
    auto sites = matmulSites(fn, targets, excluded);
    if (sites.empty())
      return fn.emitError("tailor-peft: no MatMul with a constant weight "
                          "matches the (IA)3 targets");
    SmallVector<Attribute> modules, ffModules;
    for (auto &site : sites) {
      OnnxMatMulOp mm = site.first;
      std::string module = site.second;
      auto wt = cast<RankedTensorType>(mm.getB().getType());
      Type elem = wt.getElementType();
      int64_t k = wt.getDimSize(0), n = wt.getDimSize(1);
      bool input = matchesAny(ff, module);
      modules.push_back(StringAttr::get(ctx, module));
      if (input)
        ffModules.push_back(StringAttr::get(ctx, module));
      auto type = input ? RankedTensorType::get({1, k}, elem)
                        : RankedTensorType::get({n, 1}, elem);
      Value l = addParameter(
          fn, module + ".ia3_l", type,
          DenseElementsAttr::get(type, FloatAttr::get(elem, 1.0)), mm.getLoc());
      if (!l)
        return failure();
      Location loc = mm.getLoc();
      if (input) {
        OpBuilder b(mm);
        Value x = mm.getA();
        Value scaled = OnnxMulOp::create(b, loc, x.getType(), x, l);
        mm.getAMutable().assign(scaled);
        continue;
      }
      // The output (with the bias, as PEFT scales the base layer's result).
      Operation *last = mm;
      if (OnnxAddOp add = biasAddOf(mm))
        last = add;
      Value y = last->getResult(0);
      OpBuilder b(ctx);
      b.setInsertionPointAfter(last);
      Value row =
          OnnxTransposeOp::create(b, loc, RankedTensorType::get({1, n}, elem),
                                  l, b.getDenseI64ArrayAttr({1, 0}));
      Value scaled = OnnxMulOp::create(b, loc, y.getType(), y, row);
      redirectUses(y, scaled, last, scaled.getDefiningOp());
    }
    OpBuilder mb(ctx);
    fn->setAttr("tailor.peft",
                mb.getDictionaryAttr(
                    {mb.getNamedAttr("peft_type", mb.getStringAttr("IA3")),
                     mb.getNamedAttr("modules", mb.getArrayAttr(modules)),
                     mb.getNamedAttr("feedforward_modules",
                                     mb.getArrayAttr(ffModules))}));
    return success();
  }

  /// Bottleneck adapters (arXiv 1902.00751; parallel: arXiv 2110.04366)
  /// at each target linear: serial, h + f(h Wd + bd) Wu + bu on its output
  /// h (with the bias); parallel, h + s (f(x Wd + bd) Wu + bu) from its
  /// input x. Weights in PyTorch's [out, in] layout,
  /// `<module>.adapter.{down,up}.{weight,bias}`: down kaiming-uniform, the
  /// rest zeros (the model is unchanged at the start).
  LogicalResult injectAdapters(func::FuncOp fn,
                               std::vector<llvm::Regex> &targets,
                               std::vector<llvm::Regex> &excluded) {
    MLIRContext *ctx = &getContext();
    bool parallel = placement == "parallel";
    auto sites = matmulSites(fn, targets, excluded);
    if (sites.empty())
      return fn.emitError("tailor-peft: no MatMul with a constant weight "
                          "matches the adapter targets");
    SmallVector<Attribute> modules;
    for (auto &site : sites) {
      OnnxMatMulOp mm = site.first;
      std::string module = site.second;
      auto wt = cast<RankedTensorType>(mm.getB().getType());
      Type elem = wt.getElementType();
      int64_t k = wt.getDimSize(0), n = wt.getDimSize(1);
      int64_t width = parallel ? k : n; // what the adapter reads
      modules.push_back(StringAttr::get(ctx, module));
      Location loc = mm.getLoc();
      auto param = [&](StringRef suffix, ArrayRef<int64_t> shape,
                       StringRef init) {
        return addParameter(fn, module + suffix.str(),
                            RankedTensorType::get(shape, elem),
                            StringAttr::get(ctx, init), loc);
      };
      Value wd =
          param(".adapter.down.weight", {bottleneck, width}, "kaiming_uniform");
      Value bd = param(".adapter.down.bias", {bottleneck}, "zeros");
      Value wu = param(".adapter.up.weight", {n, bottleneck}, "zeros");
      Value bu = param(".adapter.up.bias", {n}, "zeros");
      if (!wd || !bd || !wu || !bu)
        return failure();
      Operation *last = mm;
      if (OnnxAddOp add = biasAddOf(mm))
        last = add;
      Value h = last->getResult(0);
      auto ht = cast<RankedTensorType>(h.getType());
      OpBuilder b(ctx);
      b.setInsertionPointAfter(last);
      Value in = parallel ? mm.getA() : h;
      auto inType = cast<RankedTensorType>(in.getType());
      auto perm = b.getDenseI64ArrayAttr({1, 0});
      SmallVector<int64_t> mid(inType.getShape());
      mid.back() = bottleneck;
      auto midType = RankedTensorType::get(mid, elem);
      Value down = OnnxMatMulOp::create(
          b, loc, midType, in,
          OnnxTransposeOp::create(
              b, loc, RankedTensorType::get({width, bottleneck}, elem), wd,
              perm));
      Value act = OnnxAddOp::create(b, loc, midType, down, bd);
      if (activation == "relu")
        act = OnnxReluOp::create(b, loc, midType, act);
      else if (activation == "tanh")
        act = OnnxTanhOp::create(b, loc, midType, act);
      else if (activation == "silu")
        act = OnnxMulOp::create(b, loc, midType, act,
                                OnnxSigmoidOp::create(b, loc, midType, act));
      else if (activation == "gelu")
        act = GeluOp::create(b, loc, midType, act, b.getStringAttr("none"));
      Value up = OnnxMatMulOp::create(
          b, loc, ht, act,
          OnnxTransposeOp::create(
              b, loc, RankedTensorType::get({bottleneck, n}, elem), wu, perm));
      Value delta = OnnxAddOp::create(b, loc, ht, up, bu);
      if (parallel && scaling != 1.0) {
        auto scalarType = RankedTensorType::get({}, elem);
        Value sc = OnnxConstantOp::create(
            b, loc, scalarType,
            DenseElementsAttr::get(scalarType, b.getFloatAttr(elem, scaling)),
            nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
        delta = OnnxMulOp::create(b, loc, ht, delta, sc);
      }
      Value sum = OnnxAddOp::create(b, loc, ht, h, delta);
      redirectUses(h, sum, last, sum.getDefiningOp());
    }
    OpBuilder mb(ctx);
    fn->setAttr(
        "tailor.peft",
        mb.getDictionaryAttr(
            {mb.getNamedAttr("peft_type", mb.getStringAttr("BOTTLENECK")),
             mb.getNamedAttr("bottleneck_size",
                             mb.getI64IntegerAttr(bottleneck)),
             mb.getNamedAttr("placement", mb.getStringAttr(placement)),
             mb.getNamedAttr("activation", mb.getStringAttr(activation)),
             mb.getNamedAttr("scaling", mb.getF64FloatAttr(scaling)),
             mb.getNamedAttr("modules", mb.getArrayAttr(modules))}));
    return success();
  }

  /// A [1] int64 tensor: the size of `v`'s dim 0 (the batch).
  static Value batchOf(OpBuilder &b, Location loc, Value v) {
    auto vec = [&](int64_t n) {
      return RankedTensorType::get({n}, b.getI64Type());
    };
    auto rank = cast<RankedTensorType>(v.getType()).getRank();
    Value shape = OnnxShapeOp::create(b, loc, vec(rank), v, nullptr,
                                      b.getI64IntegerAttr(0));
    return OnnxSliceOp::create(b, loc, vec(1), shape, i64s(b, loc, {0}),
                               i64s(b, loc, {1}), Value(), Value());
  }
  static Value i64s(OpBuilder &b, Location loc, ArrayRef<int64_t> values) {
    auto type = RankedTensorType::get({int64_t(values.size())}, b.getI64Type());
    return OnnxConstantOp::create(
        b, loc, type, DenseIntElementsAttr::get(type, values), nullptr, nullptr,
        nullptr, nullptr, nullptr, nullptr);
  }
  /// `param` ([1, ...]) repeated over the batch of `like` (dim 0).
  static Value expandOverBatch(OpBuilder &b, Location loc, Value param,
                               Value like, RankedTensorType type) {
    auto pt = cast<RankedTensorType>(param.getType());
    SmallVector<int64_t> rest(pt.getShape().drop_front());
    Value shape = OnnxConcatOp::create(
        b, loc, RankedTensorType::get({pt.getRank()}, b.getI64Type()),
        ValueRange{batchOf(b, loc, like), i64s(b, loc, rest)},
        b.getI64IntegerAttr(0));
    return OnnxExpandOp::create(b, loc, type, param, shape);
  }
  static Value argNamed(func::FuncOp fn, StringRef name) {
    for (unsigned i = 0; i < fn.getNumArguments(); ++i)
      if (auto n = fn.getArgAttrOfType<StringAttr>(i, "onnx.name"))
        if (n.getValue() == name)
          return fn.getArgument(i);
    return {};
  }

  /// Prefix tuning (arXiv 2101.00190, as PEFT feeds it): the KV-cache
  /// inputs `past_*` [B, H, past, D] of a model exported with a cache
  /// become learned prefixes, `prefix.<input>` [1, H, P, D] repeated over
  /// the batch (normal(0, 1) initially, PEFT's embedding init); the model
  /// itself offsets the positions and extends the causal mask.
  LogicalResult injectPrefix(func::FuncOp fn) {
    MLIRContext *ctx = &getContext();
    Value ids = argNamed(fn, "input_ids");
    SmallVector<unsigned> pasts;
    for (unsigned i = 0; i < fn.getNumArguments(); ++i) {
      auto n = fn.getArgAttrOfType<StringAttr>(i, "onnx.name");
      auto t = dyn_cast<RankedTensorType>(fn.getArgument(i).getType());
      if (n && n.getValue().starts_with("past") && t && t.getRank() == 4 &&
          isa<FloatType>(t.getElementType()) && !t.isDynamicDim(1) &&
          !t.isDynamicDim(3))
        pasts.push_back(i);
    }
    if (pasts.empty())
      return fn.emitError("tailor-peft: method=prefix needs a model "
                          "exported with a KV cache (past_* inputs [batch, "
                          "heads, past, head_dim] with static heads and "
                          "head_dim)");
    if (!ids)
      return fn.emitError("tailor-peft: method=prefix needs an input_ids "
                          "input (for the batch size)");
    OpBuilder b(ctx);
    b.setInsertionPointToStart(&fn.front());
    int64_t heads = 0, dim = 0;
    for (unsigned i : pasts) {
      Value past = fn.getArgument(i);
      auto t = cast<RankedTensorType>(past.getType());
      heads = t.getDimSize(1);
      dim = t.getDimSize(3);
      std::string name =
          "prefix." + fn.getArgAttrOfType<StringAttr>(i, "onnx.name").str();
      auto type = RankedTensorType::get({1, heads, virtualTokens, dim},
                                        t.getElementType());
      Value param = addParameter(fn, name, type, StringAttr::get(ctx, "normal"),
                                 past.getLoc());
      if (!param)
        return failure();
      Value full = expandOverBatch(
          b, past.getLoc(), param, ids,
          RankedTensorType::get({t.getDimSize(0), heads, virtualTokens, dim},
                                t.getElementType()));
      past.replaceAllUsesWith(full);
    }
    llvm::BitVector erase(fn.getNumArguments());
    for (unsigned i : pasts)
      erase.set(i);
    if (failed(fn.eraseArguments(erase)))
      return failure();
    fn->setAttr(
        "tailor.peft",
        b.getDictionaryAttr(
            {b.getNamedAttr("peft_type", b.getStringAttr("PREFIX_TUNING")),
             b.getNamedAttr("num_virtual_tokens",
                            b.getI64IntegerAttr(virtualTokens)),
             b.getNamedAttr("num_layers",
                            b.getI64IntegerAttr(pasts.size() / 2)),
             b.getNamedAttr("num_attention_heads", b.getI64IntegerAttr(heads)),
             b.getNamedAttr("token_dim", b.getI64IntegerAttr(heads * dim))}));
    return success();
  }

  /// Prompt tuning (arXiv 2104.08691, as PEFT computes it): the first P
  /// token embeddings are replaced by learned ones, `prompt_embeddings`
  /// [P, D] (normal(0, 1) initially). The caller prepends P placeholder
  /// ids (their embeddings are dropped) and P ignored labels, so that the
  /// model sees [prompt; tokens] with positions 0.., as PEFT's
  /// inputs_embeds = cat(prompt, embed(ids)).
  LogicalResult injectPrompt(func::FuncOp fn) {
    MLIRContext *ctx = &getContext();
    Value ids = argNamed(fn, "input_ids");
    OnnxGatherOp gather;
    if (ids)
      for (Operation *user : ids.getUsers())
        if (auto g = dyn_cast<OnnxGatherOp>(user))
          if (g.getIndices() == ids && g.getAxis() == 0)
            if (auto table = g.getData().getDefiningOp<OnnxConstantOp>()) {
              auto t = dyn_cast<RankedTensorType>(table.getType());
              if (t && t.getRank() == 2 && !t.isDynamicDim(1) &&
                  isa<FloatType>(t.getElementType()))
                gather = g;
            }
    if (!gather)
      return fn.emitError("tailor-peft: method=prompt needs the token "
                          "embedding: a Gather of a constant [vocab, dim] "
                          "table by the input_ids input");
    auto et = cast<RankedTensorType>(gather.getType());
    auto tt = cast<RankedTensorType>(gather.getData().getType());
    int64_t dim = tt.getDimSize(1);
    Type elem = tt.getElementType();
    Location loc = gather.getLoc();
    Value param =
        addParameter(fn, "prompt_embeddings",
                     RankedTensorType::get({virtualTokens, dim}, elem),
                     StringAttr::get(ctx, "normal"), loc);
    if (!param)
      return failure();
    OpBuilder b(ctx);
    b.setInsertionPointAfter(gather);
    Value one = OnnxUnsqueezeOp::create(
        b, loc, RankedTensorType::get({1, virtualTokens, dim}, elem), param,
        i64s(b, loc, {0}));
    Value prompt = expandOverBatch(
        b, loc, one, gather,
        RankedTensorType::get({et.getDimSize(0), virtualTokens, dim}, elem));
    SmallVector<int64_t> restShape(et.getShape());
    if (!et.isDynamicDim(1))
      restShape[1] -= virtualTokens;
    Value rest =
        OnnxSliceOp::create(b, loc, RankedTensorType::get(restShape, elem),
                            gather, i64s(b, loc, {virtualTokens}),
                            i64s(b, loc, {std::numeric_limits<int64_t>::max()}),
                            i64s(b, loc, {1}), Value());
    Value out = OnnxConcatOp::create(b, loc, et, ValueRange{prompt, rest},
                                     b.getI64IntegerAttr(1));
    redirectUses(gather.getResult(), out, gather, out.getDefiningOp());
    fn->setAttr(
        "tailor.peft",
        b.getDictionaryAttr(
            {b.getNamedAttr("peft_type", b.getStringAttr("PROMPT_TUNING")),
             b.getNamedAttr("num_virtual_tokens",
                            b.getI64IntegerAttr(virtualTokens)),
             b.getNamedAttr("token_dim", b.getI64IntegerAttr(dim))}));
    return success();
  }

  /// LoRA beside every matching MatMul with a constant weight:
  /// y = x W + s (x A^T) B^T, A [r, K] and B [N, r] new arguments.
  /// AdaLoRA: y = x W + s / (r + 1e-5) (x (A * E)^T) B^T with E [r, 1], and
  /// the orthogonality regulariser as a result `aux_loss.adalora_orth`.
  LogicalResult injectLoRA(func::FuncOp fn, std::vector<llvm::Regex> &targets,
                           std::vector<llvm::Regex> &excluded) {
    MLIRContext *ctx = &getContext();
    bool ada = method == "adalora";
    auto sites = matmulSites(fn, targets, excluded);
    if (sites.empty())
      return fn.emitError("tailor-peft: no MatMul with a constant weight "
                          "matches the ")
             << (ada ? "AdaLoRA" : "LoRA") << " targets";
    double scale = rslora ? alpha / std::sqrt(double(rank)) : alpha / rank;
    // PEFT's SVDLinear: scaling (lora_alpha, or r when it is 0) over
    // ranknum + 1e-5 (ranknum = r, a float32 parameter).
    if (ada)
      scale = (alpha > 0 ? double(alpha) : double(rank)) /
              double(float(rank) + 1e-5f);
    // What an adapter file needs (adapter_config.json), for tailor-train.
    SmallVector<Attribute> modules;
    for (auto &site : sites)
      modules.push_back(StringAttr::get(ctx, site.second));
    OpBuilder mb(ctx);
    if (ada)
      fn->setAttr(
          "tailor.peft",
          mb.getDictionaryAttr(
              {mb.getNamedAttr("peft_type", mb.getStringAttr("ADALORA")),
               mb.getNamedAttr("init_r", mb.getI64IntegerAttr(rank)),
               mb.getNamedAttr("lora_alpha", mb.getF64FloatAttr(alpha)),
               mb.getNamedAttr("orth_reg_weight",
                               mb.getF64FloatAttr(orthRegWeight)),
               mb.getNamedAttr("modules", mb.getArrayAttr(modules))}));
    else
      fn->setAttr(
          "tailor.peft",
          mb.getDictionaryAttr(
              {mb.getNamedAttr("peft_type", mb.getStringAttr("LORA")),
               mb.getNamedAttr("r", mb.getI64IntegerAttr(rank)),
               mb.getNamedAttr("lora_alpha", mb.getF64FloatAttr(alpha)),
               mb.getNamedAttr("use_rslora", mb.getBoolAttr(rslora)),
               mb.getNamedAttr("use_dora", mb.getBoolAttr(dora)),
               mb.getNamedAttr("lora_fa", mb.getBoolAttr(loraFA)),
               mb.getNamedAttr("modules", mb.getArrayAttr(modules))}));
    // AdaLoRA: the (A, B) pairs of the regulariser.
    SmallVector<std::pair<Value, Value>> factors;
    for (auto &site : sites) {
      OnnxMatMulOp mm = site.first;
      std::string module = site.second;
      auto wt = cast<RankedTensorType>(mm.getB().getType());
      auto xt = cast<RankedTensorType>(mm.getA().getType());
      auto yt = cast<RankedTensorType>(mm.getType());
      Type elem = wt.getElementType();
      int64_t k = wt.getDimSize(0), n = wt.getDimSize(1);
      auto addArg = [&](StringRef suffix, ArrayRef<int64_t> shape) -> Value {
        // PEFT's initialisation: A kaiming-uniform (a = sqrt(5)), B zeros.
        // LoRA-FA: A stays frozen at its initial value (an input that is
        // not trained).
        bool isA = suffix.contains("lora_A");
        return addParameter(
            fn, module + suffix.str(), RankedTensorType::get(shape, elem),
            StringAttr::get(ctx, isA ? "kaiming_uniform" : "zeros"),
            mm.getLoc(), /*frozen=*/isA && loraFA);
      };
      Value a, bw, e;
      if (ada) {
        // PEFT's AdaLoRA names (ParameterDicts: no .weight) and its
        // initialisation: E zeros, A and B normal(0, 0.02).
        auto normal = [&](StringRef suffix, ArrayRef<int64_t> shape) {
          Value v = addParameter(fn, module + suffix.str(),
                                 RankedTensorType::get(shape, elem),
                                 StringAttr::get(ctx, "normal"), mm.getLoc());
          if (v)
            fn.setArgAttr(cast<BlockArgument>(v).getArgNumber(),
                          "tailor.init_std", mb.getF64FloatAttr(0.02));
          return v;
        };
        a = normal(".lora_A", {rank, k});
        e = addParameter(fn, module + ".lora_E",
                         RankedTensorType::get({rank, 1}, elem),
                         StringAttr::get(ctx, "zeros"), mm.getLoc());
        bw = normal(".lora_B", {n, rank});
        if (!e)
          return failure();
      } else {
        a = addArg(".lora_A.weight", {rank, k});
        bw = addArg(".lora_B.weight", {n, rank});
      }
      if (!a || !bw)
        return failure();
      OpBuilder b(mm);
      b.setInsertionPointAfter(mm);
      Location loc = mm.getLoc();
      auto perm = b.getDenseI64ArrayAttr({1, 0});
      if (ada) {
        factors.push_back({a, bw});
        a = OnnxMulOp::create(b, loc, a.getType(), a, e);
      }
      Value at = OnnxTransposeOp::create(
          b, loc, RankedTensorType::get({k, rank}, elem), a, perm);
      Value btr = OnnxTransposeOp::create(
          b, loc, RankedTensorType::get({rank, n}, elem), bw, perm);
      SmallVector<int64_t> mid(xt.getShape());
      mid.back() = rank;
      Value down = OnnxMatMulOp::create(
          b, loc, RankedTensorType::get(mid, elem), mm.getA(), at);
      Value up = OnnxMatMulOp::create(b, loc, yt, down, btr);
      auto scalarType = RankedTensorType::get({}, elem);
      Value s = OnnxConstantOp::create(
          b, loc, scalarType,
          DenseElementsAttr::get(scalarType, b.getFloatAttr(elem, scale)),
          nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
      Value scaled = OnnxMulOp::create(b, loc, yt, up, s);
      Value sum;
      if (!dora) {
        sum = OnnxAddOp::create(b, loc, yt, mm.getResult(), scaled);
      } else {
        // DoRA (arXiv 2402.09353, as PEFT computes it): a trainable
        // magnitude m [out] (initially the rows' norms of PyTorch's [out,
        // in] weight) over the norm of W + s B A (detached):
        // y = base + (m / norm - 1) base + (m / norm) s (x A^T) B^T.
        auto w = mm.getB().getDefiningOp<OnnxConstantOp>();
        std::optional<std::vector<float>> data = constantValues(w);
        if (!data || !elem.isF32())
          return mm.emitError("tailor-peft: DoRA needs a float32 weight "
                              "with its values in the module");
        std::vector<float> norms(n, 0.0f);
        for (int64_t o = 0; o < n; ++o) {
          double sq = 0;
          for (int64_t i = 0; i < k; ++i)
            sq += double((*data)[i * n + o]) * (*data)[i * n + o];
          norms[o] = float(std::sqrt(sq));
        }
        auto vecType = RankedTensorType::get({n}, elem);
        Value m = addParameter(
            fn, module + ".lora_magnitude_vector", vecType,
            DenseElementsAttr::get(vecType, llvm::ArrayRef(norms)), loc);
        if (!m)
          return failure();
        // ||W + s (B A)||: over the input dimension of the [in, out]
        // weight, W + s A^T B^T.
        auto wType = RankedTensorType::get({k, n}, elem);
        Value delta = OnnxMatMulOp::create(b, loc, wType, at, btr);
        Value merged = OnnxAddOp::create(
            b, loc, wType, mm.getB(),
            OnnxMulOp::create(b, loc, wType, delta, s));
        auto axes = RankedTensorType::get({1}, IntegerType::get(ctx, 64));
        Value axis0 = OnnxConstantOp::create(
            b, loc, axes, DenseIntElementsAttr::get(axes, ArrayRef<int64_t>{0}),
            nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
        Value sq = OnnxReduceSumOp::create(
            b, loc, vecType, OnnxMulOp::create(b, loc, wType, merged, merged),
            axis0, b.getI64IntegerAttr(0), b.getI64IntegerAttr(0));
        Value norm = StopGradientOp::create(
            b, loc, OnnxSqrtOp::create(b, loc, vecType, sq));
        Value ratio = OnnxDivOp::create(b, loc, vecType, m, norm);
        Value one = OnnxConstantOp::create(
            b, loc, scalarType,
            DenseElementsAttr::get(scalarType, b.getFloatAttr(elem, 1.0)),
            nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
        Value base = mm.getResult();
        Value extra = OnnxMulOp::create(
            b, loc, yt, OnnxSubOp::create(b, loc, vecType, ratio, one), base);
        Value dorav = OnnxAddOp::create(
            b, loc, yt, extra, OnnxMulOp::create(b, loc, yt, ratio, scaled));
        sum = OnnxAddOp::create(b, loc, yt, base, dorav);
      }
      // Every other use reads the adapted result (the new ops read the
      // base).
      redirectUses(mm.getResult(), sum, mm, sum.getDefiningOp());
    }
    if (ada)
      appendOrthogonality(fn, factors);
    return success();
  }

  /// AdaLoRA's regulariser (AdaLoraModel.forward): orth-reg-weight times
  /// the mean over the factors of ||A A^T - I||_F and ||B^T B - I||_F, a
  /// new result `aux_loss.adalora_orth` (tailor-loss adds every
  /// aux_loss.* result to the loss).
  void appendOrthogonality(func::FuncOp fn,
                           ArrayRef<std::pair<Value, Value>> factors) {
    MLIRContext *ctx = &getContext();
    auto ret = cast<func::ReturnOp>(fn.front().getTerminator());
    OpBuilder b(ret);
    Location loc = fn.getLoc();
    Type elem = Float32Type::get(ctx);
    auto scalarType = RankedTensorType::get({}, elem);
    auto square = RankedTensorType::get({rank, rank}, elem);
    auto constant = [&](RankedTensorType t, ArrayRef<float> v) -> Value {
      return OnnxConstantOp::create(
          b, loc, t, DenseElementsAttr::get(t, v), nullptr, nullptr, nullptr,
          nullptr, nullptr, nullptr);
    };
    std::vector<float> eye(rank * rank, 0.0f);
    for (int64_t i = 0; i < rank; ++i)
      eye[i * rank + i] = 1.0f;
    Value identity = constant(square, eye);
    auto axesType = RankedTensorType::get({2}, IntegerType::get(ctx, 64));
    Value axes = OnnxConstantOp::create(
        b, loc, axesType,
        DenseIntElementsAttr::get(axesType, ArrayRef<int64_t>{0, 1}), nullptr,
        nullptr, nullptr, nullptr, nullptr, nullptr);
    auto perm = b.getDenseI64ArrayAttr({1, 0});
    Value total;
    auto frobenius = [&](Value x, Value y) {
      Value d = OnnxSubOp::create(
          b, loc, square, OnnxMatMulOp::create(b, loc, square, x, y), identity);
      Value sq = OnnxReduceSumOp::create(
          b, loc, scalarType, OnnxMulOp::create(b, loc, square, d, d), axes,
          b.getI64IntegerAttr(0), b.getI64IntegerAttr(0));
      Value norm = OnnxSqrtOp::create(b, loc, scalarType, sq);
      total = total ? OnnxAddOp::create(b, loc, scalarType, total, norm)
                    : norm;
    };
    for (auto [a, bw] : factors) {
      auto at = cast<RankedTensorType>(a.getType());
      auto bt = cast<RankedTensorType>(bw.getType());
      Value aT = OnnxTransposeOp::create(
          b, loc,
          RankedTensorType::get({at.getDimSize(1), at.getDimSize(0)}, elem), a,
          perm);
      Value bT = OnnxTransposeOp::create(
          b, loc,
          RankedTensorType::get({bt.getDimSize(1), bt.getDimSize(0)}, elem),
          bw, perm);
      frobenius(a, aT);
      frobenius(bT, bw);
    }
    Value weight = constant(
        scalarType, {float(orthRegWeight / double(2 * factors.size()))});
    Value reg = OnnxMulOp::create(b, loc, scalarType, total, weight);
    SmallVector<Value> results(ret.getOperands());
    results.push_back(reg);
    SmallVector<Attribute> attrs = resultAttrDicts(fn);
    attrs.push_back(b.getDictionaryAttr(b.getNamedAttr(
        "onnx.name", b.getStringAttr("aux_loss.adalora_orth"))));
    setResults(fn, results, attrs);
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    func::FuncOp fn = findEntry(module);
    if (!fn) {
      module.emitError("tailor-peft: the module has no public function");
      return signalPassFailure();
    }
    if (!llvm::is_contained({"full", "lora", "adalora", "bitfit", "ia3",
                             "adapter", "prefix", "prompt"},
                            StringRef(method))) {
      fn.emitError("tailor-peft: unknown method '")
          << method
          << "' (known: full, lora, adalora, bitfit, ia3, adapter, prefix, "
             "prompt)";
      return signalPassFailure();
    }
    if (method == "prefix" || method == "prompt") {
      if (virtualTokens <= 0) {
        fn.emitError("tailor-peft: virtual-tokens must be > 0, not ")
            << int64_t(virtualTokens);
        return signalPassFailure();
      }
      if (failed(method == "prefix" ? injectPrefix(fn) : injectPrompt(fn)))
        return signalPassFailure();
      return;
    }
    if (method == "adapter") {
      if (bottleneck <= 0) {
        fn.emitError("tailor-peft: the adapter's bottleneck must be > 0, not ")
            << int64_t(bottleneck);
        return signalPassFailure();
      }
      if (placement != "serial" && placement != "parallel") {
        fn.emitError("tailor-peft: adapter placement must be serial or "
                     "parallel, not '")
            << placement << "'";
        return signalPassFailure();
      }
      if (!llvm::is_contained({"relu", "gelu", "silu", "tanh", "none"},
                              StringRef(activation))) {
        fn.emitError("tailor-peft: adapter activation must be relu, gelu, "
                     "silu, tanh or none, not '")
            << activation << "'";
        return signalPassFailure();
      }
    }
    if (method == "lora" && (rank <= 0 || !(alpha > 0))) {
      fn.emitError("tailor-peft: LoRA needs r > 0 and alpha > 0 (got r = ")
          << int64_t(rank) << ", alpha = " << double(alpha) << ")";
      return signalPassFailure();
    }
    if (method == "adalora") {
      // PEFT: lora_alpha 0 means a scaling of r; the regulariser's weight
      // must be positive (AdaLoraModel.forward raises otherwise).
      if (rank <= 0 || !(alpha >= 0) || !(orthRegWeight > 0) ||
          !std::isfinite(double(alpha)) || !std::isfinite(double(orthRegWeight))) {
        fn.emitError("tailor-peft: AdaLoRA needs r > 0, alpha >= 0 and "
                     "orth-reg-weight > 0 (got r = ")
            << int64_t(rank) << ", alpha = " << double(alpha)
            << ", orth-reg-weight = " << double(orthRegWeight) << ")";
        return signalPassFailure();
      }
      if (dora || rslora || loraFA) {
        fn.emitError("tailor-peft: AdaLoRA takes no dora, rslora or lora-fa");
        return signalPassFailure();
      }
    }
    auto compile = [&](ArrayRef<std::string> patterns,
                       std::vector<llvm::Regex> &out) -> LogicalResult {
      for (const std::string &p : patterns) {
        llvm::Regex re(p);
        std::string why;
        if (!re.isValid(why))
          return fn.emitError("tailor-peft: bad regex '")
                 << p << "': " << why;
        out.push_back(std::move(re));
      }
      return success();
    };
    std::vector<llvm::Regex> targets, excluded;
    if (failed(compile(target, targets)) || failed(compile(exclude, excluded)))
      return signalPassFailure();

    if (method == "lora" || method == "adalora") {
      if (failed(injectLoRA(fn, targets, excluded)))
        return signalPassFailure();
      return;
    }
    // PEFT's default targets for LLaMA-style names (k_proj, v_proj,
    // down_proj), and ours (k, v, down) and GPT-style fc2 / w2.
    if (method == "ia3") {
      if (target.empty() && failed(compile(
                                SmallVector<std::string>{
                                    "(^|\\.)(k|v|k_proj|v_proj|key|value|down|"
                                    "down_proj|fc2|w2)$"},
                                targets)))
        return signalPassFailure();
      if (feedforward.empty())
        feedforward.push_back("(^|\\.)(down|down_proj|fc2|w2)$");
      std::vector<llvm::Regex> ff;
      if (failed(compile(feedforward, ff)) ||
          failed(injectIA3(fn, targets, excluded)))
        return signalPassFailure();
      return;
    }
    // After the attention output and the MLP (Houlsby's places).
    if (method == "adapter") {
      if (target.empty() &&
          failed(compile(
              SmallVector<std::string>{
                  "(^|\\.)(o|o_proj|out_proj|proj|down|down_proj|"
                  "out|fc2|w2)$"},
              targets)))
        return signalPassFailure();
      if (failed(injectAdapters(fn, targets, excluded)))
        return signalPassFailure();
      return;
    }
    // (constant, argument name, initializer name)
    SmallVector<std::tuple<OnnxConstantOp, std::string, std::string>> lifted;
    llvm::StringSet<> names; // the arguments' names, taken
    for (unsigned i = 0; i < fn.getNumArguments(); ++i)
      if (auto n = fn.getArgAttrOfType<StringAttr>(i, "onnx.name"))
        names.insert(n.getValue());
    fn.walk([&](OnnxConstantOp c) {
      auto type = dyn_cast<RankedTensorType>(c.getType());
      auto loc = dyn_cast<NameLoc>(c.getLoc());
      if (!type || !loc || !isa<FloatType>(type.getElementType()) ||
          type.getRank() == 0 || type.getNumElements() < 2)
        return;
      StringRef initializer = loc.getName().getValue();
      if (initializer.starts_with("/"))
        return; // the output of a Constant node inside the graph
      std::string name = initializer.str();
      bool transposed = false;
      if (c->hasOneUse())
        if (auto mm = dyn_cast<OnnxMatMulOp>(*c->user_begin()))
          if (mm.getB() == c.getResult() && type.getRank() == 2)
            if (auto node = dyn_cast<NameLoc>(mm.getLoc())) {
              std::string module = peft::modulePathOfNode(node.getName());
              if (!module.empty()) {
                name = module + ".weight";
                transposed = true;
              }
            }
      auto matches = [&](const std::vector<llvm::Regex> &res) {
        return llvm::any_of(res, [&](const llvm::Regex &re) {
          return re.match(name);
        });
      };
      if ((!targets.empty() && !matches(targets)) || matches(excluded))
        return;
      // BitFit (arXiv 2106.10199): only the bias vectors train.
      if (method == "bitfit" &&
          (type.getRank() != 1 || !StringRef(name).ends_with(".bias")))
        return;
      while (!names.insert(name).second)
        name += "_";
      if (transposed)
        c->setAttr("tailor.transposed", UnitAttr::get(&getContext()));
      lifted.push_back({c, name, initializer.str()});
    });
    MLIRContext *ctx = &getContext();
    // An exporter ties a weight to another one's transpose by writing the
    // transposed copy (GPT-2's lm_head = the embedding^T): such a copy
    // becomes Transpose(the other's argument), one parameter.
    auto values = constantValues;
    auto isTransposeOf = [&](OnnxConstantOp copy, OnnxConstantOp of) {
      auto ct = cast<RankedTensorType>(copy.getType());
      auto ot = cast<RankedTensorType>(of.getType());
      if (ct.getRank() != 2 || ot.getRank() != 2 ||
          ct.getDimSize(0) != ot.getDimSize(1) ||
          ct.getDimSize(1) != ot.getDimSize(0))
        return false;
      auto a = values(copy), o = values(of);
      if (!a || !o)
        return false;
      int64_t rows = ct.getDimSize(0), cols = ct.getDimSize(1);
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j)
          if ((*a)[i * cols + j] != (*o)[j * rows + i])
            return false;
      return true;
    };
    DenseMap<Operation *, unsigned> argOf;
    // Named weights first, so that a copy finds the weight it transposes.
    // (An exporter's own initializer names start with "onnx::".)
    auto exporterNamed = [](const auto &l) {
      return StringRef(std::get<2>(l)).starts_with("onnx::");
    };
    std::stable_partition(lifted.begin(), lifted.end(),
                          [&](const auto &l) { return !exporterNamed(l); });
    for (auto &entry : lifted) {
      auto [c, name, initializer] = entry;
      // A transposed copy the exporter wrote for a tied weight (even if
      // its MatMul gave it a module name).
      if (exporterNamed(entry)) {
        std::optional<OnnxConstantOp> tied;
        for (auto &[other, otherName, otherInit] : lifted)
          if (other != c && argOf.count(other) && isTransposeOf(c, other))
            tied = other;
        if (tied) {
          OpBuilder b(c);
          Value arg = fn.getArgument(argOf[*tied]);
          Value t = OnnxTransposeOp::create(b, c.getLoc(), c.getType(), arg,
                                            b.getDenseI64ArrayAttr({1, 0}));
          c.getResult().replaceAllUsesWith(t);
          c.erase();
          continue;
        }
      }
      unsigned index = fn.getNumArguments();
      // The initial value (the initializer's data, shared, not copied).
      SmallVector<NamedAttribute> attrs{
          NamedAttribute(StringAttr::get(ctx, "onnx.name"),
                         StringAttr::get(ctx, name)),
          NamedAttribute(StringAttr::get(ctx, "tailor.trainable"),
                         UnitAttr::get(ctx)),
          NamedAttribute(StringAttr::get(ctx, "tailor.init"),
                         c.getValueAttr())};
      if (c->hasAttr("tailor.transposed"))
        attrs.push_back(NamedAttribute(StringAttr::get(ctx, "tailor.transposed"),
                                       UnitAttr::get(ctx)));
      if (failed(fn.insertArgument(index, c.getType(),
                                   DictionaryAttr::get(ctx, attrs), c.getLoc())))
        return signalPassFailure();
      c.getResult().replaceAllUsesWith(fn.getArgument(index));
      argOf[c] = index;
      ++numLifted;
    }
    for (auto [op, index] : argOf)
      op->erase();
    OpBuilder mb(ctx);
    if (lifted.empty() && method == "bitfit") {
      fn.emitError("tailor-peft: method=bitfit found no bias vector (a 1-D "
                   "weight named *.bias) to train");
      return signalPassFailure();
    }
    fn->setAttr("tailor.peft",
                mb.getDictionaryAttr({mb.getNamedAttr(
                    "peft_type", mb.getStringAttr(method == "bitfit"
                                                      ? "BITFIT"
                                                      : "FULL"))}));
  }
};
} // namespace
