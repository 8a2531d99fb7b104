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
