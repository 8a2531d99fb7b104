//===- Loss.cpp - Training losses appended to a model's entry -------------===//
//
// kind=sft: the causal-LM cross-entropy of Hugging Face's ForCausalLMLoss
// (TRL's SFT loss): labels shifted left by one, ignore-index positions
// left out, the mean over the others. The preference losses (TRL's DPO
// family, SimPO, ORPO), the Bradley-Terry reward-model loss and knowledge
// distillation are built from the same per-token log-probabilities. All
// are ONNX ops (LogSoftmax, OneHot, ReduceSum, Softplus, ...), each of
// which tailor-autodiff differentiates.

#include "tailor/Dialect/OnnxBridge.h"
#include "tailor/Transforms/Entry.h"
#include "tailor/Transforms/Passes.h"

#include <limits>

namespace mlir::tailor {
#define GEN_PASS_DEF_TAILORLOSS
#include "dialects/Tailor/Passes.h.inc"
} // namespace mlir::tailor

using namespace mlir;
using namespace mlir::tailor;

namespace {
struct LossPass : mlir::tailor::impl::TailorLossBase<LossPass> {
  using Base::Base;

  // The builder state of one run.
  MLIRContext *ctx = nullptr;
  Location loc = UnknownLoc();
  Type elem, i64, i1;
  std::optional<OpBuilder> builder;
  OpBuilder &b() { return *builder; }

  Value ints(ArrayRef<int64_t> v) {
    auto t = RankedTensorType::get({int64_t(v.size())}, i64);
    return OnnxConstantOp::create(b(), loc, t, DenseIntElementsAttr::get(t, v),
                                  nullptr, nullptr, nullptr, nullptr, nullptr,
                                  nullptr);
  }
  Value scalarOf(Type type, Attribute value) {
    auto t = RankedTensorType::get({}, type);
    return OnnxConstantOp::create(b(), loc, t, DenseElementsAttr::get(t, value),
                                  nullptr, nullptr, nullptr, nullptr, nullptr,
                                  nullptr);
  }
  Value num(double v) { return scalarOf(elem, b().getFloatAttr(elem, v)); }
  /// OneHot's [off, on] values: [0, 1].
  Value offOnValues() {
    auto pair = RankedTensorType::get({2}, elem);
    return OnnxConstantOp::create(
        b(), loc, pair,
        DenseElementsAttr::get(pair, ArrayRef<Attribute>{
                                         b().getFloatAttr(elem, 0.0),
                                         b().getFloatAttr(elem, 1.0)}),
        nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
  }
  /// The result type of a binary op of a scalar and a tensor (or two of
  /// the same shape).
  static Type typeOf(Value x, Value y) {
    return cast<RankedTensorType>(x.getType()).getRank() >=
                   cast<RankedTensorType>(y.getType()).getRank()
               ? x.getType()
               : y.getType();
  }
  Value add(Value x, Value y) {
    return OnnxAddOp::create(b(), loc, typeOf(x, y), x, y);
  }
  Value sub(Value x, Value y) {
    return OnnxSubOp::create(b(), loc, typeOf(x, y), x, y);
  }
  Value mul(Value x, Value y) {
    return OnnxMulOp::create(b(), loc, typeOf(x, y), x, y);
  }
  Value div(Value x, Value y) {
    return OnnxDivOp::create(b(), loc, typeOf(x, y), x, y);
  }
  Value softplus(Value x) {
    return OnnxSoftplusOp::create(b(), loc, x.getType(), x);
  }
  /// Sum (or mean) of every element: a scalar.
  Value sumAll(Value v) {
    return OnnxReduceSumOp::create(b(), loc, RankedTensorType::get({}, elem),
                                   v, Value(), b().getI64IntegerAttr(0),
                                   b().getI64IntegerAttr(0));
  }
  /// The mean of every element (the sum over the run-time count).
  Value meanAll(Value v) {
    auto scalar = RankedTensorType::get({}, elem);
    Value size = OnnxSizeOp::create(b(), loc, RankedTensorType::get({}, i64), v);
    return div(sumAll(v),
               OnnxCastOp::create(b(), loc, scalar, size,
                                  b().getI64IntegerAttr(*onnxDataTypeOf(elem))));
  }
  /// Sum over the last axis of [N, S] (or [N, S, V] -> [N, S]).
  Value sumLast(Value v) {
    auto t = cast<RankedTensorType>(v.getType());
    return OnnxReduceSumOp::create(
        b(), loc, RankedTensorType::get(t.getShape().drop_back(), elem), v,
        ints({-1}), b().getI64IntegerAttr(0), b().getI64IntegerAttr(0));
  }
  /// A per-row vector [2B] of [chosen; rejected] rows -> (chosen [B],
  /// rejected [B]).
  std::pair<Value, Value> pairs(Value v) {
    auto t = cast<RankedTensorType>(v.getType());
    int64_t n = t.getDimSize(0);
    int64_t half = ShapedType::isDynamic(n) ? n : n / 2;
    Value r = OnnxReshapeOp::create(
        b(), loc, RankedTensorType::get({2, half}, elem), v, ints({2, -1}),
        b().getI64IntegerAttr(0));
    auto column = RankedTensorType::get({2, 1}, elem);
    auto pick = [&](double first, double second) -> Value {
      Value sel = OnnxConstantOp::create(
          b(), loc, column,
          DenseElementsAttr::get(column,
                                 ArrayRef<Attribute>{
                                     b().getFloatAttr(elem, first),
                                     b().getFloatAttr(elem, second)}),
          nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
      return OnnxReduceSumOp::create(
          b(), loc, RankedTensorType::get({half}, elem), mul(r, sel),
          ints({0}), b().getI64IntegerAttr(0), b().getI64IntegerAttr(0));
    };
    return {pick(1, 0), pick(0, 1)};
  }
  /// -log sigmoid(x) with label smoothing eps:
  /// (1 - eps) softplus(-x) + eps softplus(x).
  Value smoothedNegLogSigmoid(Value x, double eps) {
    Value loss = softplus(OnnxNegOp::create(b(), loc, x.getType(), x));
    if (eps == 0)
      return loss;
    return add(mul(loss, num(1 - eps)), mul(softplus(x), num(eps)));
  }

  /// The labels shifted left by one (the last position ignored), whether
  /// each position is kept, and the kept positions as weights [N, S].
  struct Targets {
    Value shifted, kept, weight;
  };
  Targets targets(Value labels, RankedTensorType labelsType) {
    int64_t b0 = labelsType.getDimSize(0), s0 = labelsType.getDimSize(1);
    auto rows = [&](Type t) { return RankedTensorType::get({b0, s0}, t); };
    Value rest = OnnxSliceOp::create(
        b(), loc,
        RankedTensorType::get({b0, ShapedType::isDynamic(s0) ? s0 : s0 - 1},
                              i64),
        labels, ints({1}), ints({std::numeric_limits<int64_t>::max()}),
        ints({1}), Value());
    Value shape = OnnxShapeOp::create(b(), loc, RankedTensorType::get({2}, i64),
                                      labels, nullptr,
                                      b().getI64IntegerAttr(0));
    Value batch = OnnxSliceOp::create(b(), loc,
                                      RankedTensorType::get({1}, i64), shape,
                                      ints({0}), ints({1}), Value(), Value());
    Value lastShape = OnnxConcatOp::create(
        b(), loc, RankedTensorType::get({2}, i64), ValueRange{batch, ints({1})},
        b().getI64IntegerAttr(0));
    Value ignore = scalarOf(i64, b().getI64IntegerAttr(ignoreIndex));
    Value last = OnnxExpandOp::create(
        b(), loc, RankedTensorType::get({b0, 1}, i64), ignore, lastShape);
    Targets t;
    t.shifted = OnnxConcatOp::create(b(), loc, labelsType,
                                     ValueRange{rest, last},
                                     b().getI64IntegerAttr(1));
    Value ignored = OnnxEqualOp::create(b(), loc, rows(i1), t.shifted, ignore);
    t.kept = OnnxNotOp::create(b(), loc, rows(i1), ignored);
    t.weight = OnnxCastOp::create(b(), loc, rows(elem), t.kept,
                                  b().getI64IntegerAttr(*onnxDataTypeOf(elem)));
    return t;
  }
  /// log softmax(logits)[label] at each kept position, 0 elsewhere [N, S].
  Value tokenLogps(Value logits, RankedTensorType logitsType,
                   const Targets &t) {
    int64_t vocab = logitsType.getDimSize(2);
    auto labelsType =
        RankedTensorType::get(logitsType.getShape().drop_back(), i64);
    Value logp = OnnxLogSoftmaxOp::create(b(), loc, logitsType, logits,
                                          b().getI64IntegerAttr(-1));
    Value safe = OnnxWhereOp::create(b(), loc, labelsType, t.kept, t.shifted,
                                     scalarOf(i64, b().getI64IntegerAttr(0)));
    Value depth = scalarOf(i64, b().getI64IntegerAttr(vocab));
    Value offOn = offOnValues();
    Value onehot = OnnxOneHotOp::create(b(), loc, logitsType, safe, depth,
                                        offOn, b().getI64IntegerAttr(-1));
    // Selected by Where (a product with the one-hot row would turn a -inf
    // logit elsewhere into NaN).
    auto vocabMask = RankedTensorType::get(logitsType.getShape(), i1);
    Value isTarget = OnnxCastOp::create(b(), loc, vocabMask, onehot,
                                        b().getI64IntegerAttr(9));
    Value chosen =
        OnnxWhereOp::create(b(), loc, logitsType, isTarget, logp, num(0));
    return mul(sumLast(chosen), t.weight);
  }

  /// Paired rows ([chosen; rejected], or KTO's [examples; KL rows]) need an
  /// even count.
  LogicalResult checkPairedRows(func::FuncOp fn, int64_t rows) {
    if (!ShapedType::isDynamic(rows) && rows % 2 != 0)
      return fn.emitError("tailor-loss: kind=")
             << kind << " needs an even number of rows (the first half "
             << "paired with the second), not " << rows;
    return success();
  }

  LogicalResult build(func::FuncOp fn, func::ReturnOp ret,
                      SmallVector<Value> &results,
                      SmallVector<std::string> &names) {
    auto addInput = [&](StringRef name, Type type) -> Value {
      unsigned index = fn.getNumArguments();
      // tailor.data: an input, never a weight to differentiate.
      if (failed(fn.insertArgument(
              index, type,
              DictionaryAttr::get(
                  ctx, {NamedAttribute(StringAttr::get(ctx, "onnx.name"),
                                       StringAttr::get(ctx, name)),
                        NamedAttribute(StringAttr::get(ctx, "tailor.data"),
                                       UnitAttr::get(ctx))}),
              loc)))
        return Value();
      return fn.getArgument(index);
    };
    Value out = ret.getOperand(0);
    auto outType = dyn_cast<RankedTensorType>(out.getType());
    if (kind == "reward") {
      // Scores [N] or [N, 1] of [chosen; rejected] rows (Bradley-Terry).
      if (!outType || !isa<FloatType>(outType.getElementType()) ||
          outType.getRank() < 1 || outType.getRank() > 2 ||
          (outType.getRank() == 2 && outType.getDimSize(1) != 1))
        return fn.emitError("tailor-loss: kind=reward needs the first result "
                            "to be the scores [N] or [N, 1]");
      elem = outType.getElementType();
      if (!onnxDataTypeOf(elem))
        return fn.emitError("tailor-loss: scores of element type ")
               << elem << " have no ONNX data type";
      if (failed(checkPairedRows(fn, outType.getDimSize(0))))
        return failure();
      Value scores = out;
      if (outType.getRank() == 2)
        scores = OnnxReshapeOp::create(
            b(), loc, RankedTensorType::get({outType.getDimSize(0)}, elem),
            out, ints({-1}), b().getI64IntegerAttr(0));
      auto [rc, rr] = pairs(scores);
      Value loss = meanAll(softplus(sub(rr, rc))); // -log sigmoid(rc - rr)
      if (centerRewards > 0)
        loss = add(loss, mul(meanAll(mul(add(rc, rr), add(rc, rr))),
                             num(centerRewards)));
      results = {loss};
      names = {"loss"};
      return success();
    }
    if (!outType || outType.getRank() != 3 ||
        !isa<FloatType>(outType.getElementType()) || outType.isDynamicDim(2))
      return fn.emitError("tailor-loss: the first result must be the logits "
                          "[batch, sequence, vocabulary] with a static "
                          "vocabulary");
    elem = outType.getElementType();
    if (!onnxDataTypeOf(elem))
      return fn.emitError("tailor-loss: logits of element type ")
             << elem << " have no ONNX data type";
    int64_t n = outType.getDimSize(0), s = outType.getDimSize(1);
    auto labelsType = RankedTensorType::get({n, s}, i64);
    Value labels = addInput("labels", labelsType);
    if (!labels)
      return failure();
    Targets t = targets(labels, labelsType);
    auto vecType = RankedTensorType::get({n}, elem);

    if (kind == "kd") {
      // Distillation from teacher logits (TRL GKD's generalized_jsd_loss at
      // beta 0 (forward) or 1 (reverse)): per kept position the KL between
      // softmax(logits / T) of teacher and student, the mean over the kept
      // positions (batchmean with labels).
      Value teacher = addInput("teacher_logits", outType);
      if (!teacher)
        return failure();
      Value invT = num(1.0 / temperature);
      Value ls = OnnxLogSoftmaxOp::create(b(), loc, outType, mul(out, invT),
                                          b().getI64IntegerAttr(-1));
      Value lt = OnnxLogSoftmaxOp::create(b(), loc, outType,
                                          mul(teacher, invT),
                                          b().getI64IntegerAttr(-1));
      Value p = kdDirection == "forward" ? lt : ls;
      Value q = kdDirection == "forward" ? ls : lt;
      Value kl = sumLast(
          mul(OnnxExpOp::create(b(), loc, outType, p), sub(p, q)));
      // TRL's "batchmean" with labels: the sum over kept positions divided
      // by their number (at least 1).
      Value kept = OnnxMaxOp::create(b(), loc, RankedTensorType::get({}, elem),
                                     ValueRange{sumAll(t.weight), num(1)});
      results = {div(sumAll(mul(kl, t.weight)), kept)};
      names = {"loss"};
      return success();
    }

    if (kind != "kd" && kind != "sft" && failed(checkPairedRows(fn, n)))
      return failure();
    Value tok = tokenLogps(out, outType, t);
    if (kind == "sft") {
      results = {OnnxNegOp::create(b(), loc, RankedTensorType::get({}, elem),
                                   div(sumAll(tok), sumAll(t.weight)))};
      names = {"loss"};
      return success();
    }
    // Sequence log-probabilities of the completions (kept positions).
    Value logps = sumLast(tok);                  // [N]
    Value counts = sumLast(t.weight);            // [N]
    Value clamped = OnnxMaxOp::create(b(), loc, vecType,
                                      ValueRange{counts, num(1)});
    Value mean = div(logps, clamped);            // average log-prob
    if (kind == "simpo") {
      // SimPO (TRL CPO loss_type=simpo, cpo_alpha 0): no reference.
      auto [c, r] = pairs(mean);
      Value logits = sub(sub(c, r), num(simpoGamma / beta));
      results = {meanAll(smoothedNegLogSigmoid(mul(logits, num(beta)),
                                               labelSmoothing))};
      names = {"loss"};
      return success();
    }
    if (kind == "orpo") {
      // ORPO: NLL of the chosen completions - beta * mean log sigmoid(log
      // odds ratio) of the average log-probs; no reference.
      auto [c, r] = pairs(mean);
      auto [sumC, sumR] = pairs(logps);
      auto [countC, countR] = pairs(counts);
      (void)sumR;
      (void)countR;
      auto log1mexp = [&](Value x) -> Value {
        return OnnxLogOp::create(
            b(), loc, x.getType(),
            sub(num(1), OnnxExpOp::create(b(), loc, x.getType(), x)));
      };
      Value logOdds = sub(sub(c, r), sub(log1mexp(c), log1mexp(r)));
      Value nll = OnnxNegOp::create(b(), loc, RankedTensorType::get({}, elem),
                                    div(sumAll(sumC), sumAll(countC)));
      Value ratio = meanAll(softplus(
          OnnxNegOp::create(b(), loc, logOdds.getType(), logOdds)));
      results = {add(nll, mul(ratio, num(beta)))};
      names = {"loss"};
      return success();
    }
    // The DPO family and KTO: against the reference model's sequence
    // log-probs.
    Value ref = addInput("ref_logps", vecType);
    if (!ref)
      return failure();
    Value rho = sub(logps, ref);
    if (kind == "kto") {
      // KTO (TRL): rows [0, M) the examples, [M, 2M) the mismatched
      // (prompt, other completion) rows of the KL estimate; an input
      // `desirable` [M] labels the examples.
      auto [main, klRows] = pairs(rho);
      auto mType = cast<RankedTensorType>(main.getType());
      Value desirable =
          addInput("desirable", RankedTensorType::get(mType.getShape(), i1));
      if (!desirable)
        return failure();
      // The reference point: mean KL over the mismatched rows, at least 0,
      // not differentiated.
      Value kl = OnnxMaxOp::create(b(), loc, RankedTensorType::get({}, elem),
                                   ValueRange{meanAll(klRows), num(0)});
      kl = StopGradientOp::create(b(), loc, kl);
      auto sigmoid = [&](Value x) -> Value {
        return OnnxSigmoidOp::create(b(), loc, x.getType(), x);
      };
      Value good = mul(sub(num(1), sigmoid(mul(sub(main, kl), num(beta)))),
                       num(desirableWeight));
      Value bad = mul(sub(num(1), sigmoid(mul(sub(kl, main), num(beta)))),
                      num(undesirableWeight));
      Value losses = OnnxWhereOp::create(b(), loc, mType, desirable, good, bad);
      results = {meanAll(losses), mul(main, num(beta)), kl, logps};
      names = {"loss", "rewards", "kl", "logps"};
      return success();
    }
    auto [rhoC, rhoR] = pairs(rho);
    Value loss;
    if (kind == "ipo") {
      // Length-normalised log-ratios (TRL).
      auto [rc, rr] = pairs(div(rho, clamped));
      Value d = sub(sub(rc, rr), num(1.0 / (2 * beta)));
      loss = meanAll(mul(d, d));
    } else {
      Value delta = mul(sub(rhoC, rhoR), num(beta));
      if (kind == "dpo") {
        loss = meanAll(smoothedNegLogSigmoid(delta, labelSmoothing));
      } else if (kind == "robust") {
        Value pos = softplus(OnnxNegOp::create(b(), loc, delta.getType(),
                                               delta));
        Value neg = softplus(delta);
        loss = meanAll(div(sub(mul(pos, num(1 - labelSmoothing)),
                               mul(neg, num(labelSmoothing))),
                           num(1 - 2 * labelSmoothing)));
      } else { // hinge
        loss = meanAll(OnnxReluOp::create(b(), loc, delta.getType(),
                                          sub(num(1), delta)));
      }
    }
    results = {loss, mul(rhoC, num(beta)), mul(rhoR, num(beta)), logps};
    names = {"loss", "chosen_rewards", "rejected_rewards", "logps"};
    return success();
  }

  /// Hugging Face's load_balancing_loss_func (Mixtral; Switch eq. 4-6)
  /// over the results named router_logits* ([..., E] each, concatenated
  /// as [tokens, E]): E * sum_e f_e P_e, f_e the fraction of routing
  /// choices (top-k) that went to expert e per token, P_e the mean router
  /// probability. f is not differentiable (it comes from indices).
  FailureOr<Value> routerAux(func::FuncOp fn, func::ReturnOp ret) {
    SmallVector<Value> flat;
    int64_t experts = 0;
    for (unsigned i = 0; i < ret.getNumOperands(); ++i) {
      auto name = fn.getResultAttrOfType<StringAttr>(i, "onnx.name");
      if (!name || !name.getValue().starts_with("router_logits"))
        continue;
      auto t = dyn_cast<RankedTensorType>(ret.getOperand(i).getType());
      if (!t || t.getRank() < 2 || t.isDynamicDim(t.getRank() - 1) ||
          t.getElementType() != elem ||
          (experts && t.getDimSize(t.getRank() - 1) != experts))
        return fn.emitError("tailor-loss: result '")
               << name.getValue()
               << "' must be router logits [..., experts] of the logits' "
                  "element type with the same static number of experts";
      experts = t.getDimSize(t.getRank() - 1);
      flat.push_back(OnnxReshapeOp::create(
          b(), loc,
          RankedTensorType::get({ShapedType::kDynamic, experts}, elem),
          ret.getOperand(i), ints({-1, experts}), b().getI64IntegerAttr(0)));
    }
    if (flat.empty())
      return fn.emitError("tailor-loss: router-aux-coef needs results named "
                          "router_logits* (the MoE layers' router logits)");
    if (routerTopK < 1 || routerTopK > experts)
      return fn.emitError("tailor-loss: router-top-k must be in [1, ")
             << experts << "]";
    auto tokensType =
        RankedTensorType::get({ShapedType::kDynamic, experts}, elem);
    Value all = flat.size() == 1
                    ? flat.front()
                    : Value(OnnxConcatOp::create(b(), loc, tokensType, flat,
                                                 b().getI64IntegerAttr(0)));
    Value probs = OnnxSoftmaxOp::create(b(), loc, tokensType, all,
                                        b().getI64IntegerAttr(-1));
    auto kType = [&](Type t) {
      return RankedTensorType::get({ShapedType::kDynamic, routerTopK}, t);
    };
    auto top = OnnxTopKOp::create(b(), loc, kType(elem), kType(i64), probs,
                                  ints({routerTopK}), b().getI64IntegerAttr(-1),
                                  b().getI64IntegerAttr(1),
                                  b().getI64IntegerAttr(1));
    Value offOn = offOnValues();
    Value mask = OnnxOneHotOp::create(
        b(), loc,
        RankedTensorType::get({ShapedType::kDynamic, routerTopK, experts},
                              elem),
        top.getIndices(), scalarOf(i64, b().getI64IntegerAttr(experts)), offOn,
        b().getI64IntegerAttr(-1));
    auto vecE = RankedTensorType::get({experts}, elem);
    auto meanTokens = [&](Value v) -> Value {
      // The mean over axis 0 (the tokens) by sum / count.
      Value sum = OnnxReduceSumOp::create(
          b(), loc,
          RankedTensorType::get(
              cast<RankedTensorType>(v.getType()).getShape().drop_front(),
              elem),
          v, ints({0}), b().getI64IntegerAttr(0), b().getI64IntegerAttr(0));
      Value count = OnnxCastOp::create(
          b(), loc, RankedTensorType::get({1}, elem),
          OnnxSliceOp::create(
              b(), loc, RankedTensorType::get({1}, i64),
              OnnxShapeOp::create(
                  b(), loc,
                  RankedTensorType::get(
                      {cast<RankedTensorType>(v.getType()).getRank()}, i64),
                  v, nullptr, b().getI64IntegerAttr(0)),
              ints({0}), ints({1}), Value(), Value()),
          b().getI64IntegerAttr(*onnxDataTypeOf(elem)));
      return div(sum, count);
    };
    Value f = meanTokens(mask); // [k, E]
    Value p = meanTokens(probs); // [E]
    (void)vecE;
    return mul(sumAll(mul(f, p)), num(double(experts)));
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    func::FuncOp fn = findEntry(module);
    if (!fn || !fn.getBody().hasOneBlock()) {
      module.emitError("tailor-loss: no public function with one block");
      return signalPassFailure();
    }
    static const char *kinds[] = {"sft",   "dpo",  "ipo",    "hinge", "robust",
                                  "simpo", "orpo", "kto",    "reward", "kd"};
    if (!llvm::is_contained(kinds, StringRef(kind))) {
      fn.emitError("tailor-loss: unknown kind '")
          << kind
          << "' (known: sft, dpo, ipo, hinge, robust, simpo, orpo, kto, "
             "reward, kd)";
      return signalPassFailure();
    }
    if (!(beta > 0) || !(labelSmoothing >= 0 && labelSmoothing < 0.5) ||
        !(temperature > 0) || !(centerRewards >= 0) ||
        !(desirableWeight >= 0) || !(undesirableWeight >= 0) ||
        (kdDirection != "forward" && kdDirection != "reverse")) {
      fn.emitError("tailor-loss: beta and temperature must be positive, "
                   "label-smoothing in [0, 0.5), center-rewards and the "
                   "KTO weights not negative, kd-direction forward or "
                   "reverse");
      return signalPassFailure();
    }
    auto ret = cast<func::ReturnOp>(fn.front().getTerminator());
    if (ret.getNumOperands() == 0) {
      fn.emitError("tailor-loss: the function returns nothing");
      return signalPassFailure();
    }
    ctx = &getContext();
    loc = fn.getLoc();
    i64 = IntegerType::get(ctx, 64);
    i1 = IntegerType::get(ctx, 1);
    builder.emplace(ret);
    SmallVector<Value> results;
    SmallVector<std::string> names;
    if (failed(build(fn, ret, results, names)))
      return signalPassFailure();
    if (routerAuxCoef > 0) {
      if (kind == "reward") {
        fn.emitError("tailor-loss: router-aux-coef needs a loss over logits");
        return signalPassFailure();
      }
      FailureOr<Value> aux = routerAux(fn, ret);
      if (failed(aux))
        return signalPassFailure();
      results[0] = add(results[0], mul(*aux, num(routerAuxCoef)));
    }
    // Regularisers a PEFT method returns (AdaLoRA's orthogonality): every
    // scalar result named aux_loss.* is added.
    for (unsigned i = 0; i < ret.getNumOperands(); ++i) {
      auto name = fn.getResultAttrOfType<StringAttr>(i, "onnx.name");
      if (!name || !name.getValue().starts_with("aux_loss."))
        continue;
      auto t = dyn_cast<RankedTensorType>(ret.getOperand(i).getType());
      if (!t || t.getRank() != 0 || !isa<FloatType>(t.getElementType())) {
        fn.emitError("tailor-loss: result '")
            << name.getValue() << "' is not a floating-point scalar";
        return signalPassFailure();
      }
      results[0] = add(results[0], ret.getOperand(i));
    }

    // The loss (and its companions), then the model's results.
    SmallVector<Attribute> attrs;
    for (const std::string &name : names)
      attrs.push_back(b().getDictionaryAttr(
          b().getNamedAttr("onnx.name", b().getStringAttr(name))));
    results.append(ret.getOperands().begin(), ret.getOperands().end());
    llvm::append_range(attrs, resultAttrDicts(fn));
    setResults(fn, results, attrs);
  }
};
} // namespace
