// RUN: tailor-opt %s --tailor-autodiff | FileCheck %s

// tailor.stop_gradient: the gradient flows through the direct use of x
// only (d/dx of x * stop_gradient(x) summed is stop_gradient(x) = x).
// CHECK-LABEL: func.func @detached
// CHECK: %[[SG:.*]] = tailor.stop_gradient %arg0 : tensor<3xf32>
// CHECK: %[[SEED:.*]] = "tailor.onnx.Expand"
// CHECK: %[[G:.*]] = "tailor.onnx.Mul"(%[[SEED]], %[[SG]])
// CHECK-NOT: "tailor.onnx.Add"
// CHECK: return %{{.*}}, %[[G]]
func.func @detached(%x: tensor<3xf32> {onnx.name = "x"}) -> (tensor<f32> {onnx.name = "loss"}) {
  %s = tailor.stop_gradient %x : tensor<3xf32>
  %y = "tailor.onnx.Mul"(%x, %s) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  %l = "tailor.onnx.ReduceSum"(%y) {keepdims = 0 : i64} : (tensor<3xf32>) -> tensor<f32>
  return %l : tensor<f32>
}
