//===- TailorOps.td - ONNX-level ops of the tailor dialect ----------------===//
//
// The op definitions themselves are generated from the ONNX schemas into
// TailorOnnxOps.td (build tree) from the list in OnnxOps.list.
//
//===----------------------------------------------------------------------===//

#ifndef TAILOR_OPS_TD
#define TAILOR_OPS_TD

include "TailorBase.td"
include "TailorInterfaces.td"

// An ONNX operator. Its verifier checks the ONNX schema (arity, attribute
// types, type constraints) and runs ONNX's shape inference on the operand
// types: declared result types must agree with the inferred ones (a declared
// `?` or unranked result is compatible with anything inferred).
class Tailor_OnnxOp<string onnxName, int sinceVersion, list<Trait> traits = []>
    : Tailor_Op<"onnx." # onnxName,
                !listconcat(traits, [NoMemoryEffect,
                                     DeclareOpInterfaceMethods<Tailor_ShapeInferenceOpInterface>])> {
  string onnxOpType = onnxName;
  int onnxSinceVersion = sinceVersion;
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    static constexpr ::llvm::StringLiteral getOnnxOpType() {
      return ::llvm::StringLiteral("}] # onnxName # [{");
    }
    static constexpr int getOnnxSinceVersion() { return }] # sinceVersion # [{; }
  }];
  let extraClassDefinition = [{
    ::mlir::LogicalResult $cppClass::verify() {
      return ::mlir::tailor::verifyOnnxOp(getOperation());
    }
    ::mlir::LogicalResult $cppClass::inferResultTypes(
        ::llvm::SmallVectorImpl<::mlir::Type> &resultTypes) {
      return ::mlir::tailor::inferOnnxResultTypes(getOperation(), resultTypes);
    }
  }];
}

include "TailorOnnxOps.td"

#endif // TAILOR_OPS_TD
