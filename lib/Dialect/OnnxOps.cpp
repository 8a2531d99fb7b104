//===- OnnxOps.cpp - Verification and type inference of ONNX-level ops ----===//
//
// One implementation for every `tailor.onnx.*` op: the op is turned back into
// an ONNX NodeProto and checked with the ONNX library's schema and
// shape-inference function for that op, so ONNX's own rules apply.
//
//===----------------------------------------------------------------------===//

#include "tailor/Dialect/OnnxBridge.h"
#include "tailor/Dialect/Tailor.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/TypeUtilities.h"

#include <deque>

using namespace mlir;
using namespace mlir::tailor;

namespace {
/// An ONNX-level op seen as an ONNX node.
struct NodeView {
  const onnx::OpSchema *schema = nullptr;
  onnx::NodeProto node;
  SmallVector<Type> inputTypes; // null for an absent optional input
  std::deque<onnx::TensorProto> dataStorage; // stable addresses
  SmallVector<const onnx::TensorProto *> inputData;
  unsigned numOutputs = 0;
};

/// Splits `count` values over formal parameters the way ODS does: from the
/// segment-size attribute when there is one, otherwise giving the one
/// non-single parameter whatever the single ones leave.
SmallVector<int32_t>
segmentSizes(Operation *op, StringRef segmentAttr,
             const std::vector<onnx::OpSchema::FormalParameter> &formals,
             unsigned count) {
  if (auto sizes = op->getAttrOfType<DenseI32ArrayAttr>(segmentAttr))
    return SmallVector<int32_t>(sizes.asArrayRef());
  SmallVector<int32_t> result;
  int singles = 0;
  for (const auto &f : formals)
    singles += f.GetOption() == onnx::OpSchema::Single;
  for (const auto &f : formals)
    result.push_back(f.GetOption() == onnx::OpSchema::Single
                         ? 1
                         : (int32_t)count - singles);
  return result;
}

LogicalResult buildNodeView(Operation *op, NodeView &view) {
  StringRef opType = op->getName().getStringRef();
  opType.consume_front("tailor.onnx.");
  view.schema = lookupOnnxSchema(opType);
  if (!view.schema)
    return op->emitOpError("has no ONNX schema for op type '") << opType << "'";
  view.node.set_op_type(opType.str());

  SmallVector<int32_t> inSizes = segmentSizes(
      op, "operandSegmentSizes", view.schema->inputs(), op->getNumOperands());
  unsigned next = 0;
  for (int32_t size : inSizes) {
    if (size == 0) {
      view.node.add_input("");
      view.inputTypes.push_back(Type());
      view.inputData.push_back(nullptr);
      continue;
    }
    for (int32_t i = 0; i < size; ++i, ++next) {
      Value v = op->getOperand(next);
      view.node.add_input("in" + std::to_string(next));
      view.inputTypes.push_back(v.getType());
      view.inputData.push_back(nullptr);
      // Constant integer operands (shapes, axes, ...) feed ONNX's inference.
      if (ElementsAttr c = getConstantElements(v)) {
        auto t = cast<ShapedType>(c.getType());
        if (t.getElementType().isInteger() && t.getNumElements() <= 4096) {
          onnx::TensorProto proto;
          if (elementsToOnnx(c, proto)) {
            view.dataStorage.push_back(std::move(proto));
            view.inputData.back() = &view.dataStorage.back();
          }
        }
      }
    }
  }
  // Trailing absent optional inputs are simply left out, as ONNX does.
  while (view.node.input_size() > 0 &&
         view.node.input(view.node.input_size() - 1).empty()) {
    view.node.mutable_input()->RemoveLast();
    view.inputTypes.pop_back();
    view.inputData.pop_back();
  }

  SmallVector<int32_t> outSizes = segmentSizes(
      op, "resultSegmentSizes", view.schema->outputs(), op->getNumResults());
  for (int32_t size : outSizes)
    view.numOutputs += size == 0 ? 1 : size;
  unsigned outIndex = 0;
  for (int32_t size : outSizes) {
    if (size == 0)
      view.node.add_output("");
    for (int32_t i = 0; i < size; ++i)
      view.node.add_output("out" + std::to_string(outIndex++));
  }
  while (view.node.output_size() > 0 &&
         view.node.output(view.node.output_size() - 1).empty()) {
    view.node.mutable_output()->RemoveLast();
    --view.numOutputs;
  }

  for (NamedAttribute attr : op->getAttrs()) {
    StringRef name = attr.getName().strref();
    if (name == "operandSegmentSizes" || name == "resultSegmentSizes")
      continue;
    if (!view.schema->attributes().count(name.str()))
      continue; // discardable attributes of other passes
    if (!attributeToOnnx(name, attr.getValue(), *view.node.add_attribute()))
      return op->emitOpError("attribute '")
             << name << "' has no ONNX equivalent";
  }
  return success();
}

} // namespace

LogicalResult mlir::tailor::onnxNodeOf(
    Operation *op, llvm::function_ref<std::string(unsigned)> inputName,
    llvm::function_ref<std::string(unsigned)> outputName,
    onnx::NodeProto &node) {
  NodeView view;
  if (failed(buildNodeView(op, view)))
    return failure();
  // The view names operand i "in<i>" and result i "out<i>".
  for (std::string &in : *view.node.mutable_input())
    if (!in.empty())
      in = inputName(std::stoul(in.substr(2)));
  for (std::string &out : *view.node.mutable_output())
    if (!out.empty())
      out = outputName(std::stoul(out.substr(3)));
  node = std::move(view.node);
  return success();
}

namespace {
/// Maps ONNX's outputs (which count absent optional ones) to op results.
SmallVector<Type> resultTypesOf(Operation *op, const NodeView &view,
                                ArrayRef<Type> onnxOutputs) {
  SmallVector<Type> results;
  unsigned onnxIndex = 0;
  for (int i = 0; i < view.node.output_size(); ++i, ++onnxIndex)
    if (!view.node.output(i).empty())
      results.push_back(onnxIndex < onnxOutputs.size() ? onnxOutputs[onnxIndex]
                                                       : Type());
  results.resize(op->getNumResults());
  return results;
}

/// Partial data propagation for 1-D integer shape vectors: the value of each
/// element where it can be determined (kDynamic elsewhere), through the ops
/// exporters build shapes with. ONNX's own inference gives up on a Reshape
/// whose target is not a constant; this recovers its rank and static sizes.
std::optional<SmallVector<int64_t>> partialIntValues(Value v, int depth = 0) {
  if (depth > 24 || !getElementTypeOrSelf(v.getType()).isInteger())
    return std::nullopt;
  auto type = dyn_cast<RankedTensorType>(v.getType());
  if (!type || type.getRank() > 1 || !type.hasStaticShape() ||
      type.getNumElements() > 16)
    return std::nullopt;
  if (auto constant = getConstantIntValues(v, 16))
    return constant;
  Operation *def = v.getDefiningOp();
  if (!def)
    return SmallVector<int64_t>(type.getNumElements(), ShapedType::kDynamic);
  auto recurse = [&](Value w) { return partialIntValues(w, depth + 1); };
  auto unknown = [&]() {
    return SmallVector<int64_t>(type.getNumElements(), ShapedType::kDynamic);
  };
  if (auto shape = dyn_cast<OnnxShapeOp>(def)) {
    auto in = dyn_cast<RankedTensorType>(shape.getData().getType());
    if (!in)
      return unknown();
    int64_t rank = in.getRank();
    auto clamp = [&](int64_t i) {
      return std::clamp<int64_t>(i < 0 ? i + rank : i, 0, rank);
    };
    int64_t start = clamp(shape.getStart());
    int64_t end = shape.getEnd() ? clamp(*shape.getEnd()) : rank;
    SmallVector<int64_t> dims(in.getShape().begin() + start,
                              in.getShape().begin() + std::max(start, end));
    return dims;
  }
  if (isa<OnnxCastOp, OnnxSqueezeOp, OnnxUnsqueezeOp, OnnxIdentityOp>(def)) {
    auto in = recurse(def->getOperand(0));
    if (in && (int64_t)in->size() == type.getNumElements())
      return in;
    return unknown();
  }
  if (auto gather = dyn_cast<OnnxGatherOp>(def)) {
    auto data = recurse(gather.getData());
    auto indices = getConstantIntValues(gather.getIndices(), 16);
    if (!data || !indices || (int64_t)indices->size() != type.getNumElements())
      return unknown();
    SmallVector<int64_t> out;
    for (int64_t i : *indices) {
      if (i < 0)
        i += data->size();
      if (i < 0 || i >= (int64_t)data->size())
        return unknown();
      out.push_back((*data)[i]);
    }
    return out;
  }
  if (auto concat = dyn_cast<OnnxConcatOp>(def)) {
    SmallVector<int64_t> out;
    for (Value in : concat.getInputs()) {
      auto part = recurse(in);
      auto partType = dyn_cast<RankedTensorType>(in.getType());
      if (!part) {
        if (!partType || !partType.hasStaticShape())
          return unknown();
        part = SmallVector<int64_t>(partType.getNumElements(),
                                    ShapedType::kDynamic);
      }
      out.append(*part);
    }
    if ((int64_t)out.size() != type.getNumElements())
      return unknown();
    return out;
  }
  if (auto where = dyn_cast<OnnxWhereOp>(def)) {
    auto cond = recurse(where.getCondition());
    auto x = recurse(where.getX()), y = recurse(where.getY());
    if (!cond || !x || !y)
      return unknown();
    SmallVector<int64_t> out;
    for (int64_t i = 0; i < type.getNumElements(); ++i) {
      auto at = [&](const SmallVector<int64_t> &vals) {
        return vals.size() == 1 ? vals[0] : vals[i];
      };
      if ((int64_t)cond->size() != 1 && (int64_t)cond->size() != type.getNumElements())
        return unknown();
      int64_t c = at(*cond);
      out.push_back(ShapedType::isDynamic(c) ? ShapedType::kDynamic
                                             : (c ? at(*x) : at(*y)));
    }
    return out;
  }
  return unknown();
}

/// Result types for shape-consuming ops from partially known shape vectors.
Type partialShapeResult(Operation *op) {
  auto elementOf = [](Value v) { return getElementTypeOrSelf(v.getType()); };
  if (auto reshape = dyn_cast<OnnxReshapeOp>(op)) {
    auto target = partialIntValues(reshape.getShape());
    if (!target)
      return nullptr;
    auto in = dyn_cast<RankedTensorType>(reshape.getData().getType());
    SmallVector<int64_t> dims;
    for (auto [i, t] : llvm::enumerate(*target)) {
      if (t == 0 && reshape.getAllowzero() == 0)
        dims.push_back(in && (int64_t)i < in.getRank() ? in.getDimSize(i)
                                                       : ShapedType::kDynamic);
      else if (t < 0 || ShapedType::isDynamic(t))
        dims.push_back(ShapedType::kDynamic);
      else
        dims.push_back(t);
    }
    return RankedTensorType::get(dims, elementOf(reshape.getData()));
  }
  if (auto expand = dyn_cast<OnnxExpandOp>(op)) {
    auto target = partialIntValues(expand.getShape());
    auto in = dyn_cast<RankedTensorType>(expand.getInput().getType());
    if (!target || !in)
      return nullptr;
    int64_t rank = std::max<int64_t>(in.getRank(), target->size());
    SmallVector<int64_t> dims(rank, ShapedType::kDynamic);
    for (int64_t i = 0; i < rank; ++i) {
      int64_t a = i - (rank - in.getRank()) >= 0
                      ? in.getDimSize(i - (rank - in.getRank()))
                      : 1;
      int64_t b = i - (rank - (int64_t)target->size()) >= 0
                      ? (*target)[i - (rank - target->size())]
                      : 1;
      if (!ShapedType::isDynamic(a) && a != 1)
        dims[i] = a; // b must be 1 or a
      else if (a == 1 && !ShapedType::isDynamic(b))
        dims[i] = b;
    }
    return RankedTensorType::get(dims, elementOf(expand.getInput()));
  }
  if (auto slice = dyn_cast<OnnxSliceOp>(op)) {
    // The rank is kept; axes that are not sliced keep their size.
    auto in = dyn_cast<RankedTensorType>(slice.getData().getType());
    auto axes = slice.getAxes() ? getConstantIntValues(slice.getAxes(), 16)
                                : std::nullopt;
    if (!in || (slice.getAxes() && !axes))
      return nullptr;
    SmallVector<int64_t> dims(in.getShape());
    for (int64_t i = 0; i < in.getRank(); ++i) {
      bool sliced = !axes || llvm::any_of(*axes, [&](int64_t a) {
        return a == i || a + in.getRank() == i;
      });
      if (sliced)
        dims[i] = ShapedType::kDynamic;
    }
    return RankedTensorType::get(dims, in.getElementType());
  }
  if (auto cos = dyn_cast<OnnxConstantOfShapeOp>(op)) {
    auto target = partialIntValues(cos.getInput());
    if (!target)
      return nullptr;
    return RankedTensorType::get(*target,
                                 getElementTypeOrSelf(cos.getType()));
  }
  return nullptr;
}

LogicalResult runInference(Operation *op, SmallVectorImpl<Type> &inferred) {
  NodeView view;
  if (failed(buildNodeView(op, view)))
    return failure();
  SmallVector<Type> outputs;
  std::string error;
  if (!runOnnxInference(*view.schema, view.node, view.inputTypes,
                        view.inputData, view.node.output_size(),
                        op->getContext(), outputs, error))
    return op->emitOpError("is invalid for ONNX: ") << error;
  inferred = resultTypesOf(op, view, outputs);
  if (Type partial = partialShapeResult(op)) {
    Type refined = inferred[0] ? refineTensorType(inferred[0], partial) : partial;
    if (refined)
      inferred[0] = refined;
  }
  return success();
}
} // namespace

LogicalResult mlir::tailor::verifyOnnxOp(Operation *op) {
  SmallVector<Type> inferred;
  if (failed(runInference(op, inferred)))
    return failure();
  for (auto [index, declared, computed] :
       llvm::enumerate(op->getResultTypes(), inferred)) {
    if (computed && !refineTensorType(declared, computed))
      return op->emitOpError("result #")
             << index << " has type " << declared
             << ", incompatible with the type ONNX infers: " << computed;
  }
  return success();
}

LogicalResult
mlir::tailor::inferOnnxResultTypes(Operation *op,
                                   SmallVectorImpl<Type> &resultTypes) {
  SmallVector<Type> inferred;
  if (failed(runInference(op, inferred)))
    return failure();
  resultTypes.clear();
  for (auto [index, declared, computed] :
       llvm::enumerate(op->getResultTypes(), inferred)) {
    if (!computed) {
      resultTypes.push_back(declared);
      continue;
    }
    Type refined = refineTensorType(declared, computed);
    if (!refined)
      return op->emitOpError("result #")
             << index << " has type " << declared
             << ", incompatible with the type ONNX infers: " << computed;
    resultTypes.push_back(refined);
  }
  return success();
}
