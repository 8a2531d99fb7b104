// RUN: tailor-opt %s --tailor-autodiff --split-input-file --verify-diagnostics | FileCheck %s
// RUN: tailor-opt %s --tailor-autodiff=wrt=w --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=WRT

// loss = sum(tanh(x W + b)); the gradients are appended as results named
// grad.<argument>: d/dW = x^T (dy), d/db = sum over rows, d/dx = dy W^T,
// with dy = 1 - tanh^2 (the Tanh rule) times the ReduceSum's expanded seed.
// CHECK-LABEL: func.func @mlp
// CHECK-SAME: -> (tensor<f32> {onnx.name = "loss"}, tensor<2x3xf32> {onnx.name = "grad.x"}, tensor<3x4xf32> {onnx.name = "grad.w"}, tensor<4xf32> {onnx.name = "grad.b"})
// CHECK: %[[SEED:.*]] = "tailor.onnx.Constant"() <{value = dense<1.000000e+00> : tensor<f32>}>
// CHECK: %[[KEPT:.*]] = "tailor.onnx.Unsqueeze"(%[[SEED]], %{{.*}}) : (tensor<f32>, tensor<2xi64>) -> tensor<1x1xf32>
// CHECK: %[[DT:.*]] = "tailor.onnx.Expand"(%[[KEPT]], %{{.*}}) : (tensor<1x1xf32>, tensor<2xi64>) -> tensor<2x4xf32>
// CHECK: "tailor.onnx.Mul"(%[[Y:.*]], %[[Y]])
// CHECK: %[[DA:.*]] = "tailor.onnx.Mul"(%[[DT]], %{{.*}}) : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
// CHECK: %[[DB:.*]] = "tailor.onnx.ReduceSum"(%[[DA]], %{{.*}}) <{keepdims = 1 : i64, noop_with_empty_axes = 0 : i64}> : (tensor<2x4xf32>, tensor<1xi64>) -> tensor<1x4xf32>
// CHECK: %[[GB:.*]] = "tailor.onnx.Reshape"(%[[DB]], %{{.*}}) {{.*}} -> tensor<4xf32>
// CHECK: %[[WT:.*]] = "tailor.onnx.Transpose"(%arg1) <{perm = array<i64: 1, 0>}> : (tensor<3x4xf32>) -> tensor<4x3xf32>
// CHECK: %[[GX:.*]] = "tailor.onnx.MatMul"(%[[DA]], %[[WT]]) : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
// CHECK: %[[XT:.*]] = "tailor.onnx.Transpose"(%arg0) <{perm = array<i64: 1, 0>}>
// CHECK: %[[GW:.*]] = "tailor.onnx.MatMul"(%[[XT]], %[[DA]]) : (tensor<3x2xf32>, tensor<2x4xf32>) -> tensor<3x4xf32>
// CHECK: return %{{.*}}, %[[GX]], %[[GW]], %[[GB]]
// Only w: one gradient result, and nothing computed for x or b.
// WRT-LABEL: func.func @mlp
// WRT-SAME: -> (tensor<f32> {onnx.name = "loss"}, tensor<3x4xf32> {onnx.name = "grad.w"})
// WRT-NOT: "tailor.onnx.ReduceSum"(%{{.*}}, %{{.*}}) <{keepdims = 1
func.func @mlp(%x: tensor<2x3xf32> {onnx.name = "x"}, %w: tensor<3x4xf32> {onnx.name = "w"}, %b: tensor<4xf32> {onnx.name = "b"}) -> (tensor<f32> {onnx.name = "loss"}) {
  %m = "tailor.onnx.MatMul"(%x, %w) : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
  %a = "tailor.onnx.Add"(%m, %b) : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %y = "tailor.onnx.Tanh"(%a) : (tensor<2x4xf32>) -> tensor<2x4xf32>
  %l = "tailor.onnx.ReduceSum"(%y) {keepdims = 0 : i64} : (tensor<2x4xf32>) -> tensor<f32>
  return %l : tensor<f32>
}

// -----

// An argument the loss does not depend on gets a zero gradient.
// CHECK-LABEL: func.func @unused
// CHECK: %[[Z:.*]] = "tailor.onnx.Constant"() <{value = dense<0.000000e+00> : tensor<f32>}>
// CHECK: %[[G:.*]] = "tailor.onnx.Expand"(%[[Z]], %{{.*}}) : (tensor<f32>, tensor<1xi64>) -> tensor<3xf32>
// CHECK: return %{{.*}}, %{{.*}}, %[[G]]
func.func @unused(%x: tensor<3xf32> {onnx.name = "x"}, %w: tensor<3xf32> {onnx.name = "w"}) -> (tensor<f32> {onnx.name = "loss"}) {
  %l = "tailor.onnx.ReduceSum"(%x) {keepdims = 0 : i64} : (tensor<3xf32>) -> tensor<f32>
  return %l : tensor<f32>
}

// -----

// expected-error @+1 {{tailor-autodiff: the first result (the loss) must be a floating-point tensor of one element, not 'tensor<3xf32>'}}
func.func @not_scalar(%x: tensor<3xf32>) -> tensor<3xf32> {
  return %x : tensor<3xf32>
}
