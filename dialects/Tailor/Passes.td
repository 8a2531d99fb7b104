//===- Passes.td - Tailor passes ------------------------------------------===//

#ifndef TAILOR_PASSES_TD
#define TAILOR_PASSES_TD

include "mlir/Pass/PassBase.td"

def TailorInferShapes : Pass<"tailor-infer-shapes", "func::FuncOp"> {
  let summary = "Refine result types with ONNX shape inference";
  let description = [{
    Walks a function in order and refines every op's result types with what
    its shape-inference interface computes from the operand types (and from
    constant operands, such as a Reshape's target shape). ONNX ops use ONNX's
    own shape-inference functions. A result type is only ever made more
    precise: an unranked tensor may gain a rank, a `?` a static size. The
    function's result types are updated to match its `return`.
    Inconsistent operands are reported as errors at the op's location.
  }];
  let dependentDialects = ["::mlir::tailor::TailorDialect"];
  let statistics = [
    Statistic<"numRefined", "results-refined", "Result types made more precise">
  ];
}

#endif // TAILOR_PASSES_TD
