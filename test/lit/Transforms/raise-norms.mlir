// RUN: tailor-opt %s -tailor-raise -split-input-file | FileCheck %s

// LLaMA's RMSNorm as PyTorch exports it: w * (x * (1 / sqrt(mean(x^2) + eps))).
// CHECK-LABEL: func @rms_norm
// CHECK: %[[R:.*]] = tailor.rms_norm %arg0, %{{.*}} {epsilon = 9.99999974E-6 : f32} : (tensor<?x?x8xf32>, tensor<8xf32>) -> tensor<?x?x8xf32>
// CHECK-NOT: tailor.onnx.ReduceMean
// CHECK: return %[[R]]
func.func @rms_norm(%x: tensor<?x?x8xf32>) -> tensor<?x?x8xf32> {
  %w = "tailor.onnx.Constant"() {value = dense<1.5> : tensor<8xf32>} : () -> tensor<8xf32>
  %two = "tailor.onnx.Constant"() {value = dense<2.0> : tensor<f32>} : () -> tensor<f32>
  %eps = "tailor.onnx.Constant"() {value = dense<1.0e-5> : tensor<f32>} : () -> tensor<f32>
  %one = "tailor.onnx.Constant"() {value = dense<1.0> : tensor<f32>} : () -> tensor<f32>
  %0 = "tailor.onnx.Pow"(%x, %two) : (tensor<?x?x8xf32>, tensor<f32>) -> tensor<?x?x8xf32>
  %1 = "tailor.onnx.ReduceMean"(%0) {axes = array<i64: -1>, keepdims = 1 : i64} : (tensor<?x?x8xf32>) -> tensor<?x?x1xf32>
  %2 = "tailor.onnx.Add"(%1, %eps) : (tensor<?x?x1xf32>, tensor<f32>) -> tensor<?x?x1xf32>
  %3 = "tailor.onnx.Sqrt"(%2) : (tensor<?x?x1xf32>) -> tensor<?x?x1xf32>
  %4 = "tailor.onnx.Div"(%one, %3) : (tensor<f32>, tensor<?x?x1xf32>) -> tensor<?x?x1xf32>
  %5 = "tailor.onnx.Mul"(%x, %4) : (tensor<?x?x8xf32>, tensor<?x?x1xf32>) -> tensor<?x?x8xf32>
  %6 = "tailor.onnx.Mul"(%w, %5) : (tensor<8xf32>, tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
  return %6 : tensor<?x?x8xf32>
}

// -----

// Mean over the wrong axis: not a norm.
// CHECK-LABEL: func @not_rms_norm
// CHECK-NOT: tailor.rms_norm
func.func @not_rms_norm(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %w = "tailor.onnx.Constant"() {value = dense<1.5> : tensor<8xf32>} : () -> tensor<8xf32>
  %two = "tailor.onnx.Constant"() {value = dense<2.0> : tensor<f32>} : () -> tensor<f32>
  %eps = "tailor.onnx.Constant"() {value = dense<1.0e-6> : tensor<f32>} : () -> tensor<f32>
  %0 = "tailor.onnx.Pow"(%x, %two) : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
  %1 = "tailor.onnx.ReduceMean"(%0) {axes = array<i64: 0>, keepdims = 1 : i64} : (tensor<4x8xf32>) -> tensor<1x8xf32>
  %2 = "tailor.onnx.Add"(%1, %eps) : (tensor<1x8xf32>, tensor<f32>) -> tensor<1x8xf32>
  %3 = "tailor.onnx.Sqrt"(%2) : (tensor<1x8xf32>) -> tensor<1x8xf32>
  %4 = "tailor.onnx.Div"(%x, %3) : (tensor<4x8xf32>, tensor<1x8xf32>) -> tensor<4x8xf32>
  %5 = "tailor.onnx.Mul"(%w, %4) : (tensor<8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  return %5 : tensor<4x8xf32>
}

// -----

// Opset 17 LayerNormalization.
// CHECK-LABEL: func @layer_norm_op
// CHECK: tailor.layer_norm %arg0, %{{.*}}, %{{.*}} {epsilon = 9.99999997E-7 : f32}
func.func @layer_norm_op(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %w = "tailor.onnx.Constant"() {value = dense<1.5> : tensor<8xf32>} : () -> tensor<8xf32>
  %b = "tailor.onnx.Constant"() {value = dense<0.5> : tensor<8xf32>} : () -> tensor<8xf32>
  %0 = "tailor.onnx.LayerNormalization"(%x, %w, %b) {axis = -1 : i64, epsilon = 1.0e-6 : f32, operandSegmentSizes = array<i32: 1, 1, 1>, resultSegmentSizes = array<i32: 1, 0, 0>} : (tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

// Normalising over more than the last axis stays ONNX.
// CHECK-LABEL: func @layer_norm_two_axes
// CHECK-NOT: tailor.layer_norm
func.func @layer_norm_two_axes(%x: tensor<2x4x8xf32>) -> tensor<2x4x8xf32> {
  %w = "tailor.onnx.Constant"() {value = dense<1.5> : tensor<4x8xf32>} : () -> tensor<4x8xf32>
  %0 = "tailor.onnx.LayerNormalization"(%x, %w) {axis = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 0>, resultSegmentSizes = array<i32: 1, 0, 0>} : (tensor<2x4x8xf32>, tensor<4x8xf32>) -> tensor<2x4x8xf32>
  return %0 : tensor<2x4x8xf32>
}

// -----

// The pre-opset-17 decomposition GPT-2 exports at opset 14.
// CHECK-LABEL: func @layer_norm_decomposed
// CHECK: %[[R:.*]] = tailor.layer_norm %arg0, %{{.*}}, %{{.*}} {epsilon = 9.99999997E-7 : f32}
// CHECK-NOT: tailor.rms_norm
// CHECK-NOT: tailor.onnx.ReduceMean
// CHECK: return %[[R]]
func.func @layer_norm_decomposed(%x: tensor<?x?x8xf32>) -> tensor<?x?x8xf32> {
  %w = "tailor.onnx.Constant"() {value = dense<1.5> : tensor<8xf32>} : () -> tensor<8xf32>
  %b = "tailor.onnx.Constant"() {value = dense<0.5> : tensor<8xf32>} : () -> tensor<8xf32>
  %two = "tailor.onnx.Constant"() {value = dense<2.0> : tensor<f32>} : () -> tensor<f32>
  %eps = "tailor.onnx.Constant"() {value = dense<1.0e-6> : tensor<f32>} : () -> tensor<f32>
  %0 = "tailor.onnx.ReduceMean"(%x) {axes = array<i64: -1>, keepdims = 1 : i64} : (tensor<?x?x8xf32>) -> tensor<?x?x1xf32>
  %1 = "tailor.onnx.Sub"(%x, %0) : (tensor<?x?x8xf32>, tensor<?x?x1xf32>) -> tensor<?x?x8xf32>
  %2 = "tailor.onnx.Pow"(%1, %two) : (tensor<?x?x8xf32>, tensor<f32>) -> tensor<?x?x8xf32>
  %3 = "tailor.onnx.ReduceMean"(%2) {axes = array<i64: -1>, keepdims = 1 : i64} : (tensor<?x?x8xf32>) -> tensor<?x?x1xf32>
  %4 = "tailor.onnx.Add"(%3, %eps) : (tensor<?x?x1xf32>, tensor<f32>) -> tensor<?x?x1xf32>
  %5 = "tailor.onnx.Sqrt"(%4) : (tensor<?x?x1xf32>) -> tensor<?x?x1xf32>
  %6 = "tailor.onnx.Div"(%1, %5) : (tensor<?x?x8xf32>, tensor<?x?x1xf32>) -> tensor<?x?x8xf32>
  %7 = "tailor.onnx.Mul"(%6, %w) : (tensor<?x?x8xf32>, tensor<8xf32>) -> tensor<?x?x8xf32>
  %8 = "tailor.onnx.Add"(%7, %b) : (tensor<?x?x8xf32>, tensor<8xf32>) -> tensor<?x?x8xf32>
  return %8 : tensor<?x?x8xf32>
}
