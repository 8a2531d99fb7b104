// RUN: tailor-opt %s --tailor-autodiff | FileCheck %s

// The straight-through estimator: the weight's gradient is the gradient of
// its fake-quantized value, x^T dy, nothing for the rounding.
// CHECK-LABEL: func.func @ste
// CHECK: %[[FQ:.*]] = tailor.fake_quant %arg1
// CHECK: %[[XT:.*]] = "tailor.onnx.Transpose"(%arg0)
// CHECK: %[[GW:.*]] = "tailor.onnx.MatMul"(%[[XT]], %{{.*}}) : (tensor<4x3xf32>, tensor<3x2xf32>) -> tensor<4x2xf32>
// CHECK-NOT: fake_quant
// CHECK: return %{{.*}}, %[[GW]]
func.func @ste(%x: tensor<3x4xf32> {onnx.name = "x", tailor.data},
               %w: tensor<4x2xf32> {onnx.name = "w", tailor.trainable}) -> (tensor<f32> {onnx.name = "loss"}) {
  %q = tailor.fake_quant %w {bits = 8 : i64, group_size = 0 : i64, symmetric = true} : (tensor<4x2xf32>) -> tensor<4x2xf32>
  %y = "tailor.onnx.MatMul"(%x, %q) : (tensor<3x4xf32>, tensor<4x2xf32>) -> tensor<3x2xf32>
  %l = "tailor.onnx.ReduceSum"(%y) {keepdims = 0 : i64} : (tensor<3x2xf32>) -> tensor<f32>
  return %l : tensor<f32>
}
