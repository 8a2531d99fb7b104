// RUN: tailor-opt %s -tailor-raise -tailor-summary -o /dev/null 2>&1 | FileCheck %s
// RUN: not tailor-opt %s -tailor-summary=output=%t/no/such/dir/x.txt -o /dev/null 2>&1 | FileCheck %s --check-prefix=BADOUT

// CHECK: function @f
// CHECK-NEXT: input  x: tensor<2x4xf32>
// CHECK-NEXT: output y: tensor<2x3xf32>
// CHECK-NEXT: parameters: 12 (12 elements of float constants, buffers included; 48B)
// CHECK-NEXT: layers (attention blocks): 0
// CHECK-NEXT: LLM ops: linear=1
// CHECK-NEXT: ONNX-level ops left: 0
// BADOUT: error: cannot write the summary to
func.func @f(%x: tensor<2x4xf32> {onnx.name = "x"}) -> (tensor<2x3xf32> {onnx.name = "y"}) {
  %w = "tailor.onnx.Constant"() {value = dense<1.0> : tensor<4x3xf32>} : () -> tensor<4x3xf32>
  %0 = "tailor.onnx.MatMul"(%x, %w) : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}
