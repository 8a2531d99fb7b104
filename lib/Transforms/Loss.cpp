//===- Loss.cpp - Training losses appended to a model's entry -------------===//
//
// kind=sft: the causal-LM cross-entropy of Hugging Face's ForCausalLMLoss
// (TRL's SFT loss): labels shifted left by one, ignore-index positions
// left out, the mean over the others. Built from ONNX ops (LogSoftmax,
// OneHot, ReduceSum), each of which tailor-autodiff differentiates.

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

  void runOnOperation() override {
    ModuleOp module = getOperation();
    func::FuncOp fn = findEntry(module);
    if (!fn || !fn.getBody().hasOneBlock()) {
      module.emitError("tailor-loss: no public function with one block");
      return signalPassFailure();
    }
    if (kind != "sft") {
      fn.emitError("tailor-loss: unknown kind '") << kind << "' (known: sft)";
      return signalPassFailure();
    }
    auto ret = cast<func::ReturnOp>(fn.front().getTerminator());
    auto logitsType =
        ret.getNumOperands()
            ? dyn_cast<RankedTensorType>(ret.getOperand(0).getType())
            : RankedTensorType();
    if (!logitsType || logitsType.getRank() != 3 ||
        !isa<FloatType>(logitsType.getElementType()) ||
        logitsType.isDynamicDim(2)) {
      fn.emitError("tailor-loss: the first result must be the logits "
                   "[batch, sequence, vocabulary] with a static vocabulary");
      return signalPassFailure();
    }
    MLIRContext *ctx = &getContext();
    Location loc = fn.getLoc();
    Type elem = logitsType.getElementType();
    Type i64 = IntegerType::get(ctx, 64), i1 = IntegerType::get(ctx, 1);
    int64_t vocab = logitsType.getDimSize(2);
    int64_t b0 = logitsType.getDimSize(0), s0 = logitsType.getDimSize(1);

    auto labelsType = RankedTensorType::get({b0, s0}, i64);
    unsigned index = fn.getNumArguments();
    if (failed(fn.insertArgument(
            index, labelsType,
            DictionaryAttr::get(ctx, {NamedAttribute(
                                         StringAttr::get(ctx, "onnx.name"),
                                         StringAttr::get(ctx, "labels"))}),
            loc)))
      return signalPassFailure();
    Value labels = fn.getArgument(index);

    OpBuilder b(ret);
    auto ints = [&](ArrayRef<int64_t> v) -> Value {
      auto t = RankedTensorType::get({int64_t(v.size())}, i64);
      return OnnxConstantOp::create(b, loc, t, DenseIntElementsAttr::get(t, v),
                                    nullptr, nullptr, nullptr, nullptr,
                                    nullptr, nullptr);
    };
    auto scalarOf = [&](Type type, Attribute value) -> Value {
      auto t = RankedTensorType::get({}, type);
      return OnnxConstantOp::create(b, loc, t, DenseElementsAttr::get(t, value),
                                    nullptr, nullptr, nullptr, nullptr,
                                    nullptr, nullptr);
    };
    auto rows = [&](Type t) { return RankedTensorType::get({b0, s0}, t); };
    Value logits = ret.getOperand(0);
    Value logp = OnnxLogSoftmaxOp::create(b, loc, logitsType, logits,
                                          b.getI64IntegerAttr(-1));
    // Shifted labels: labels[:, 1:] and one ignored position at the end.
    Value rest = OnnxSliceOp::create(
        b, loc,
        RankedTensorType::get({b0, ShapedType::isDynamic(s0) ? s0 : s0 - 1},
                              i64),
        labels, ints({1}), ints({std::numeric_limits<int64_t>::max()}),
        ints({1}), Value());
    Value shape = OnnxShapeOp::create(b, loc, RankedTensorType::get({2}, i64),
                                      labels, nullptr, b.getI64IntegerAttr(0));
    Value batch = OnnxSliceOp::create(b, loc, RankedTensorType::get({1}, i64),
                                      shape, ints({0}), ints({1}), Value(),
                                      Value());
    Value lastShape = OnnxConcatOp::create(
        b, loc, RankedTensorType::get({2}, i64), ValueRange{batch, ints({1})},
        b.getI64IntegerAttr(0));
    Value ignore = scalarOf(i64, b.getI64IntegerAttr(ignoreIndex));
    Value last = OnnxExpandOp::create(
        b, loc, RankedTensorType::get({b0, 1}, i64), ignore, lastShape);
    Value shifted = OnnxConcatOp::create(b, loc, labelsType,
                                         ValueRange{rest, last},
                                         b.getI64IntegerAttr(1));
    Value ignored = OnnxEqualOp::create(b, loc, rows(i1), shifted, ignore);
    Value kept = OnnxNotOp::create(b, loc, rows(i1), ignored);
    Value safe = OnnxWhereOp::create(b, loc, labelsType, kept, shifted,
                                     scalarOf(i64, b.getI64IntegerAttr(0)));
    Value depth = scalarOf(i64, b.getI64IntegerAttr(vocab));
    auto pair = RankedTensorType::get({2}, elem);
    Value offOn = OnnxConstantOp::create(
        b, loc, pair,
        DenseElementsAttr::get(pair, ArrayRef<Attribute>{
                                         b.getFloatAttr(elem, 0.0),
                                         b.getFloatAttr(elem, 1.0)}),
        nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
    Value onehot = OnnxOneHotOp::create(b, loc, logitsType, safe, depth, offOn,
                                        b.getI64IntegerAttr(-1));
    // The target's log-probability: selected by Where (a product with the
    // one-hot row would turn a -inf logit elsewhere into NaN).
    auto vocabMask = RankedTensorType::get(logitsType.getShape(), i1);
    Value isTarget = OnnxCastOp::create(b, loc, vocabMask, onehot,
                                        b.getI64IntegerAttr(9));
    Value chosen = OnnxWhereOp::create(
        b, loc, logitsType, isTarget, logp,
        scalarOf(elem, b.getFloatAttr(elem, 0.0)));
    Value picked = OnnxReduceSumOp::create(
        b, loc, rows(elem), chosen, ints({-1}), b.getI64IntegerAttr(0),
        b.getI64IntegerAttr(0));
    std::optional<int32_t> code = onnxDataTypeOf(elem);
    if (!code) {
      fn.emitError("tailor-loss: logits of element type ")
          << elem << " have no ONNX data type";
      return signalPassFailure();
    }
    Value weight = OnnxCastOp::create(b, loc, rows(elem), kept,
                                      b.getI64IntegerAttr(*code));
    auto scalarType = RankedTensorType::get({}, elem);
    auto sumAll = [&](Value v) -> Value {
      return OnnxReduceSumOp::create(b, loc, scalarType, v, Value(),
                                     b.getI64IntegerAttr(0),
                                     b.getI64IntegerAttr(0));
    };
    Value total = sumAll(OnnxMulOp::create(b, loc, rows(elem), picked, weight));
    Value count = sumAll(weight);
    Value loss = OnnxNegOp::create(
        b, loc, scalarType,
        OnnxDivOp::create(b, loc, scalarType, total, count));

    // loss, then the model's results.
    SmallVector<Value> results{loss};
    results.append(ret.getOperands().begin(), ret.getOperands().end());
    SmallVector<Type> types{scalarType};
    types.append(fn.getResultTypes().begin(), fn.getResultTypes().end());
    SmallVector<Attribute> attrs{b.getDictionaryAttr(
        b.getNamedAttr("onnx.name", b.getStringAttr("loss")))};
    for (unsigned i = 0; i < fn.getNumResults(); ++i)
      attrs.push_back(fn.getResultAttrDict(i)
                          ? Attribute(fn.getResultAttrDict(i))
                          : Attribute(b.getDictionaryAttr({})));
    ret->setOperands(results);
    fn.setType(FunctionType::get(ctx, fn.getArgumentTypes(), types));
    fn.setAllResultAttrs(attrs);
  }
};
} // namespace
