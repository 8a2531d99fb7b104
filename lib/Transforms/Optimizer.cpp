//===- Optimizer.cpp - The parameter update compiled into a training step ---===//
//
// After tailor-autodiff the entry returns the loss and grad.<name> for each
// trainable argument <name>. This pass turns it into one training step:
// new inputs (the learning rate, the step number, the optimizer's state),
// results (the loss, the gradient norm, the updated parameters and state),
// with the update written as elementwise ONNX ops that fuse with the
// backward pass. The formulas are PyTorch's (torch.optim.AdamW, SGD and
// torch.nn.utils.clip_grad_norm_), so that a step can be compared with
// PyTorch's.

#include "tailor/Transforms/Entry.h"
#include "tailor/Transforms/Passes.h"

#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Regex.h"

namespace mlir::tailor {
#define GEN_PASS_DEF_TAILOROPTIMIZER
#include "dialects/Tailor/Passes.h.inc"
} // namespace mlir::tailor

using namespace mlir;
using namespace mlir::tailor;

namespace {
struct OptimizerPass : mlir::tailor::impl::TailorOptimizerBase<OptimizerPass> {
  using Base::Base;

  LogicalResult checkOptions(func::FuncOp fn) {
    auto bad = [&](const Twine &what) {
      return fn.emitError("tailor-optimizer: ") << what;
    };
    if (kind != "adamw" && kind != "sgd")
      return bad("unknown kind '" + kind + "' (known: adamw, sgd)");
    if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1))
      return bad("beta1 and beta2 must be in [0, 1)");
    if (!(eps > 0))
      return bad("eps must be positive");
    if (!(weightDecay >= 0))
      return bad("weight-decay must be non-negative");
    if (!(momentum >= 0 && momentum < 1))
      return bad("momentum must be in [0, 1)");
    if (nesterov && !(momentum > 0))
      return bad("nesterov needs momentum > 0");
    if (!(maxGradNorm >= 0))
      return bad("max-grad-norm must be non-negative (0: no clipping)");
    if (accumulate < 1)
      return bad("accumulate must be at least 1");
    return success();
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    func::FuncOp fn = findEntry(module);
    if (!fn || !fn.getBody().hasOneBlock()) {
      module.emitError("tailor-optimizer: no public function with one block");
      return signalPassFailure();
    }
    if (failed(checkOptions(fn)))
      return signalPassFailure();
    MLIRContext *ctx = &getContext();
    auto ret = cast<func::ReturnOp>(fn.front().getTerminator());
    auto argName = [&](unsigned i) -> StringRef {
      if (auto n = fn.getArgAttrOfType<StringAttr>(i, "onnx.name"))
        return n.getValue();
      return "";
    };
    auto resultName = [&](unsigned i) -> StringRef {
      if (auto n = fn.getResultAttrOfType<StringAttr>(i, "onnx.name"))
        return n.getValue();
      return "";
    };

    // The loss and the (parameter, gradient) pairs.
    Value loss = ret.getNumOperands() ? ret.getOperand(0) : Value();
    auto lossType = loss ? dyn_cast<RankedTensorType>(loss.getType())
                         : RankedTensorType();
    if (!lossType || !lossType.hasStaticShape() ||
        lossType.getNumElements() != 1 ||
        !isa<FloatType>(lossType.getElementType())) {
      fn.emitError("tailor-optimizer: the first result must be the loss (a "
                   "floating-point tensor of one element)");
      return signalPassFailure();
    }
    struct Param {
      unsigned arg;
      std::string name;
      Value grad;
      RankedTensorType type;
    };
    SmallVector<Param> params;
    for (unsigned r = 1; r < fn.getNumResults(); ++r) {
      StringRef name = resultName(r);
      if (!name.consume_front("grad."))
        continue;
      std::optional<unsigned> arg;
      for (unsigned i = 0; i < fn.getNumArguments(); ++i)
        if (argName(i) == name)
          arg = i;
      if (!arg) {
        fn.emitError("tailor-optimizer: result 'grad.")
            << name << "' has no argument '" << name << "' to update";
        return signalPassFailure();
      }
      auto type = dyn_cast<RankedTensorType>(fn.getArgument(*arg).getType());
      if (!type || !type.getElementType().isF32() ||
          type != ret.getOperand(r).getType()) {
        fn.emitError("tailor-optimizer: parameter '")
            << name << "' must be a float32 tensor with a gradient of its "
            << "type (got " << fn.getArgument(*arg).getType() << " and "
            << ret.getOperand(r).getType() << ")";
        return signalPassFailure();
      }
      params.push_back({*arg, name.str(), ret.getOperand(r), type});
    }
    if (params.empty()) {
      fn.emitError("tailor-optimizer: the entry returns no grad.<name> "
                   "results (run tailor-autodiff first)");
      return signalPassFailure();
    }
    llvm::StringSet<> taken;
    for (unsigned i = 0; i < fn.getNumArguments(); ++i)
      taken.insert(argName(i));

    Type f32 = Float32Type::get(ctx);
    auto scalarType = RankedTensorType::get({}, f32);
    Location loc = fn.getLoc();
    auto addArg = [&](const std::string &name, Type type) -> Value {
      unsigned index = fn.getNumArguments();
      if (!taken.insert(name).second) {
        fn.emitError("tailor-optimizer: the entry already has an argument "
                     "named '")
            << name << "'";
        return Value();
      }
      if (failed(fn.insertArgument(
              index, type,
              DictionaryAttr::get(ctx, {NamedAttribute(
                                           StringAttr::get(ctx, "onnx.name"),
                                           StringAttr::get(ctx, name))}),
              loc)))
        return Value();
      return fn.getArgument(index);
    };
    Value lr = addArg("lr", scalarType);
    Value step = addArg("step", scalarType);
    if (!lr || !step)
      return signalPassFailure();
    Value apply;
    if (accumulate > 1)
      if (!(apply = addArg("apply_update",
                           RankedTensorType::get({}, IntegerType::get(ctx, 1)))))
        return signalPassFailure();
    // The state, named as PyTorch's optimizers name it.
    SmallVector<StringRef> stateNames;
    if (kind == "adamw")
      stateNames = {"exp_avg", "exp_avg_sq"};
    else if (momentum > 0)
      stateNames = {"momentum_buffer"};
    if (accumulate > 1)
      stateNames.push_back("grad_acc");
    SmallVector<SmallVector<Value>> state(params.size());
    for (auto [p, s] : llvm::zip(params, state))
      for (StringRef n : stateNames) {
        Value v = addArg((n + "." + p.name).str(), p.type);
        if (!v)
          return signalPassFailure();
        s.push_back(v);
      }

    OpBuilder b(ret);
    auto constant = [&](double v) -> Value {
      return OnnxConstantOp::create(
          b, loc, scalarType,
          DenseElementsAttr::get(scalarType, b.getF32FloatAttr(float(v))),
          nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
    };
    auto typeOf = [](Value v) { return v.getType(); };
    auto mul = [&](Value x, Value y) -> Value {
      return OnnxMulOp::create(b, loc, typeOf(x), x, y);
    };
    auto add = [&](Value x, Value y) -> Value {
      return OnnxAddOp::create(b, loc, typeOf(x), x, y);
    };
    auto sub = [&](Value x, Value y) -> Value {
      return OnnxSubOp::create(b, loc, typeOf(x), x, y);
    };
    auto div = [&](Value x, Value y) -> Value {
      return OnnxDivOp::create(b, loc, typeOf(x), x, y);
    };
    auto sqrt = [&](Value x) -> Value {
      return OnnxSqrtOp::create(b, loc, typeOf(x), x);
    };

    // Accumulation: the mean of the micro-batches' gradients.
    SmallVector<Value> grads, sums;
    for (auto [p, s] : llvm::zip(params, state)) {
      Value g = p.grad;
      if (accumulate > 1) {
        Value sum = add(s.back(), g);
        sums.push_back(sum);
        g = mul(sum, constant(1.0 / double(accumulate)));
      }
      grads.push_back(g);
    }
    // The global norm (clip_grad_norm_'s, before clipping).
    Value sumSq;
    for (Value g : grads) {
      Value sq = OnnxReduceSumSquareOp::create(b, loc, scalarType, g, nullptr,
                                               b.getI64IntegerAttr(0));
      sumSq = sumSq ? add(sumSq, sq) : sq;
    }
    Value norm = sqrt(sumSq);
    if (maxGradNorm > 0) {
      // clip_coef = max_norm / (total_norm + 1e-6), clamped to 1.
      Value coef = div(constant(maxGradNorm), add(norm, constant(1e-6)));
      coef = OnnxMinOp::create(b, loc, scalarType, ValueRange{coef, constant(1)});
      for (Value &g : grads)
        g = mul(g, coef);
    }

    SmallVector<Value> newParams;
    SmallVector<SmallVector<Value>> newState(params.size());
    if (kind == "adamw") {
      // torch.optim.AdamW (amsgrad off, maximize off).
      Value stepSize = div(lr, sub(constant(1), OnnxPowOp::create(
                                                   b, loc, scalarType,
                                                   constant(beta1), step)));
      Value bc2Sqrt = sqrt(sub(
          constant(1), OnnxPowOp::create(b, loc, scalarType, constant(beta2),
                                         step)));
      Value decay = sub(constant(1), mul(lr, constant(weightDecay)));
      for (auto [i, p] : llvm::enumerate(params)) {
        Value w = fn.getArgument(p.arg), g = grads[i];
        Value m = state[i][0], v = state[i][1];
        if (weightDecay > 0)
          w = mul(w, decay);
        Value m1 = add(m, mul(sub(g, m), constant(1 - beta1)));
        Value v1 = add(mul(v, constant(beta2)),
                       mul(mul(g, g), constant(1 - beta2)));
        Value denom = add(div(sqrt(v1), bc2Sqrt), constant(eps));
        newParams.push_back(sub(w, mul(div(m1, denom), stepSize)));
        newState[i] = {m1, v1};
      }
    } else {
      // torch.optim.SGD (dampening 0): weight decay added to the gradient.
      for (auto [i, p] : llvm::enumerate(params)) {
        Value w = fn.getArgument(p.arg), d = grads[i];
        if (weightDecay > 0)
          d = add(d, mul(w, constant(weightDecay)));
        if (momentum > 0) {
          Value buf = add(mul(state[i][0], constant(momentum)), d);
          newState[i].push_back(buf);
          d = nesterov ? add(d, mul(buf, constant(momentum))) : buf;
        }
        newParams.push_back(sub(w, mul(d, lr)));
      }
    }
    if (accumulate > 1) {
      // Only the last micro-batch of a step updates; the others keep the
      // parameters and state and add their gradient to grad_acc.
      Value zero = constant(0);
      for (auto [i, p] : llvm::enumerate(params)) {
        auto select = [&](Value yes, Value no) -> Value {
          return OnnxWhereOp::create(b, loc, no.getType(), apply, yes, no);
        };
        newParams[i] = select(newParams[i], fn.getArgument(p.arg));
        for (unsigned s = 0; s + 1 < state[i].size(); ++s)
          newState[i][s] = select(newState[i][s], state[i][s]);
        newState[i].push_back(select(
            OnnxExpandOp::create(
                b, loc, p.type, zero,
                OnnxShapeOp::create(
                    b, loc,
                    RankedTensorType::get({p.type.getRank()},
                                          IntegerType::get(ctx, 64)),
                    state[i].back(), nullptr, b.getI64IntegerAttr(0))),
            sums[i]));
      }
    }

    // loss, grad_norm, the parameters, then the state.
    SmallVector<Value> results{loss, norm};
    SmallVector<std::string> names{resultName(0).empty() ? "loss"
                                                         : resultName(0).str(),
                                   "grad_norm"};
    for (auto [p, v] : llvm::zip(params, newParams)) {
      results.push_back(v);
      names.push_back(p.name);
    }
    for (auto [p, s] : llvm::zip(params, newState))
      for (auto [n, v] : llvm::zip(stateNames, s)) {
        results.push_back(v);
        names.push_back((n + "." + p.name).str());
      }
    std::vector<llvm::Regex> returned;
    for (const std::string &pattern : returnGrads) {
      llvm::Regex re(pattern);
      std::string why;
      if (!re.isValid(why)) {
        fn.emitError("tailor-optimizer: bad return-grads regex '")
            << pattern << "': " << why;
        return signalPassFailure();
      }
      returned.push_back(std::move(re));
    }
    for (auto [p, g] : llvm::zip(params, grads)) {
      StringRef name = p.name;
      if (llvm::any_of(returned,
                       [&](llvm::Regex &re) { return re.match(name); })) {
        results.push_back(g);
        names.push_back(("grad." + name).str());
      }
    }
    SmallVector<Attribute> attrs;
    for (const std::string &n : names)
      attrs.push_back(b.getDictionaryAttr(
          b.getNamedAttr("onnx.name", b.getStringAttr(n))));
    setResults(fn, results, attrs);
    numUpdated = params.size();
  }
};
} // namespace
