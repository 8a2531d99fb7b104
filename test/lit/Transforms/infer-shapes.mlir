// RUN: tailor-opt %s -tailor-infer-shapes -split-input-file | FileCheck %s

// CHECK-LABEL: func @chain
// CHECK-SAME: -> tensor<2x4xf32>
func.func @chain(%a: tensor<2x3xf32>, %b: tensor<3x4xf32>) -> tensor<*xf32> {
  // CHECK: "tailor.onnx.MatMul"{{.*}} -> tensor<2x4xf32>
  %0 = "tailor.onnx.MatMul"(%a, %b) : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<*xf32>
  // CHECK: "tailor.onnx.Relu"{{.*}} -> tensor<2x4xf32>
  %1 = "tailor.onnx.Relu"(%0) : (tensor<*xf32>) -> tensor<*xf32>
  return %1 : tensor<*xf32>
}

// -----

// Dynamic dimensions stay dynamic; a constant shape operand is read.
// CHECK-LABEL: func @dynamic
func.func @dynamic(%a: tensor<?x8xf32>) -> tensor<*xf32> {
  %shape = "tailor.onnx.Constant"() {value = dense<[-1, 2, 4]> : tensor<3xi64>} : () -> tensor<3xi64>
  // CHECK: "tailor.onnx.Reshape"{{.*}} -> tensor<?x2x4xf32>
  %r = "tailor.onnx.Reshape"(%a, %shape) : (tensor<?x8xf32>, tensor<3xi64>) -> tensor<*xf32>
  // CHECK: "tailor.onnx.Transpose"{{.*}} -> tensor<4x?x2xf32>
  %t = "tailor.onnx.Transpose"(%r) {perm = array<i64: 2, 0, 1>} : (tensor<*xf32>) -> tensor<*xf32>
  return %t : tensor<*xf32>
}

// -----

// LLM ops infer too.
// CHECK-LABEL: func @llm
func.func @llm(%x: tensor<2x?x16xf32>, %w: tensor<16x32xf32>) -> tensor<*xf32> {
  // CHECK: tailor.linear {{.*}} -> tensor<2x?x32xf32>
  %0 = tailor.linear %x, %w : (tensor<2x?x16xf32>, tensor<16x32xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}
