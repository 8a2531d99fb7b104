//===- TailorInterfaces.td - Interfaces of tailor ops ---------------------===//

#ifndef TAILOR_INTERFACES_TD
#define TAILOR_INTERFACES_TD

include "mlir/IR/OpBase.td"

def Tailor_ShapeInferenceOpInterface : OpInterface<"ShapeInferenceOpInterface"> {
  let cppNamespace = "::mlir::tailor";
  let description = [{
    Ops that can compute their result types from their operands' types (and
    constant operand values). `inferResultTypes` returns one type per result;
    a type it cannot refine is returned as it stands. The types it returns are
    never less precise than the ones inferred from the same operands, so a
    dynamic dimension stays `?` and an unknown rank stays unranked.
  }];
  let methods = [
    InterfaceMethod<
      "Infers the result types from the operands. Emits an error at the op's "
      "location and returns failure when the operands are inconsistent.",
      "::mlir::LogicalResult", "inferResultTypes",
      (ins "::llvm::SmallVectorImpl<::mlir::Type> &":$resultTypes)>
  ];
}

#endif // TAILOR_INTERFACES_TD
