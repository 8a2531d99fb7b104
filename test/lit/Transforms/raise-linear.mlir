// RUN: tailor-opt %s -tailor-raise -split-input-file | FileCheck %s

// CHECK-LABEL: func @linear_bias
// CHECK-SAME: (%[[X:.*]]: tensor<?x?x4xf32>)
// CHECK: %[[W:.*]] = "tailor.onnx.Constant"() <{value = dense<1.000000e+00> : tensor<4x3xf32>}>
// CHECK: %[[B:.*]] = "tailor.onnx.Constant"() <{value = dense<[1.000000e+00, 2.000000e+00, 3.000000e+00]> : tensor<3xf32>}>
// CHECK: %[[Y:.*]] = tailor.linear %[[X]], %[[W]], %[[B]] : (tensor<?x?x4xf32>, tensor<4x3xf32>, tensor<3xf32>) -> tensor<?x?x3xf32>
// CHECK-NOT: tailor.onnx.MatMul
// CHECK-NOT: tailor.onnx.Add
// CHECK: return %[[Y]]
func.func @linear_bias(%x: tensor<?x?x4xf32>) -> tensor<?x?x3xf32> {
  %w = "tailor.onnx.Constant"() {value = dense<1.0> : tensor<4x3xf32>} : () -> tensor<4x3xf32>
  %b = "tailor.onnx.Constant"() {value = dense<[1.0, 2.0, 3.0]> : tensor<3xf32>} : () -> tensor<3xf32>
  %0 = "tailor.onnx.MatMul"(%x, %w) : (tensor<?x?x4xf32>, tensor<4x3xf32>) -> tensor<?x?x3xf32>
  %1 = "tailor.onnx.Add"(%b, %0) : (tensor<3xf32>, tensor<?x?x3xf32>) -> tensor<?x?x3xf32>
  return %1 : tensor<?x?x3xf32>
}

// -----

// The MatMul has a second user: the bias Add stays separate.
// CHECK-LABEL: func @linear_shared
// CHECK: %[[L:.*]] = tailor.linear %{{.*}}, %{{.*}} : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
// CHECK: "tailor.onnx.Add"(%[[L]], %{{.*}})
func.func @linear_shared(%x: tensor<2x4xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>) {
  %w = "tailor.onnx.Constant"() {value = dense<1.0> : tensor<4x3xf32>} : () -> tensor<4x3xf32>
  %b = "tailor.onnx.Constant"() {value = dense<[1.0, 2.0, 3.0]> : tensor<3xf32>} : () -> tensor<3xf32>
  %0 = "tailor.onnx.MatMul"(%x, %w) : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
  %1 = "tailor.onnx.Add"(%0, %b) : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  return %0, %1 : tensor<2x3xf32>, tensor<2x3xf32>
}

// -----

// Not a linear layer: the weight is an input, or x is a vector.
// CHECK-LABEL: func @not_linear
// CHECK-NOT: tailor.linear
// CHECK: "tailor.onnx.MatMul"
// CHECK: "tailor.onnx.MatMul"
func.func @not_linear(%x: tensor<2x4xf32>, %w: tensor<4x3xf32>, %v: tensor<4xf32>) -> (tensor<2x3xf32>, tensor<3xf32>) {
  %c = "tailor.onnx.Constant"() {value = dense<1.0> : tensor<4x3xf32>} : () -> tensor<4x3xf32>
  %0 = "tailor.onnx.MatMul"(%x, %w) : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
  %1 = "tailor.onnx.MatMul"(%v, %c) : (tensor<4xf32>, tensor<4x3xf32>) -> tensor<3xf32>
  return %0, %1 : tensor<2x3xf32>, tensor<3xf32>
}

// -----

// CHECK-LABEL: func @embedding
// CHECK: tailor.embedding %{{.*}}, %{{.*}} : (tensor<10x4xf32>, tensor<?x?xi64>) -> tensor<?x?x4xf32>
func.func @embedding(%ids: tensor<?x?xi64>) -> tensor<?x?x4xf32> {
  %t = "tailor.onnx.Constant"() {value = dense<0.5> : tensor<10x4xf32>} : () -> tensor<10x4xf32>
  %0 = "tailor.onnx.Gather"(%t, %ids) {axis = 0 : i64} : (tensor<10x4xf32>, tensor<?x?xi64>) -> tensor<?x?x4xf32>
  return %0 : tensor<?x?x4xf32>
}

// -----

// Gather along axis 1 is not a token lookup.
// CHECK-LABEL: func @not_embedding
// CHECK-NOT: tailor.embedding
func.func @not_embedding(%ids: tensor<3xi64>) -> tensor<10x3xf32> {
  %t = "tailor.onnx.Constant"() {value = dense<0.5> : tensor<10x4xf32>} : () -> tensor<10x4xf32>
  %0 = "tailor.onnx.Gather"(%t, %ids) {axis = 1 : i64} : (tensor<10x4xf32>, tensor<3xi64>) -> tensor<10x3xf32>
  return %0 : tensor<10x3xf32>
}
