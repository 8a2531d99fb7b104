// RUN: tailor-opt %s | FileCheck %s
// RUN: tailor-opt %s | tailor-opt | FileCheck %s
// RUN: tailor-opt -emit-bytecode %s | tailor-opt | FileCheck %s

// CHECK-LABEL: func @matmul_softmax
func.func @matmul_softmax(%a: tensor<?x3xf32>, %b: tensor<3x4xf32>) -> tensor<?x4xf32> {
  // CHECK: "tailor.onnx.MatMul"(%{{.*}}, %{{.*}}) : (tensor<?x3xf32>, tensor<3x4xf32>) -> tensor<?x4xf32>
  %0 = "tailor.onnx.MatMul"(%a, %b) : (tensor<?x3xf32>, tensor<3x4xf32>) -> tensor<?x4xf32>
  // CHECK: "tailor.onnx.Softmax"(%{{.*}}) <{axis = -1 : i64}>
  %1 = "tailor.onnx.Softmax"(%0) {axis = -1 : i64} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  return %1 : tensor<?x4xf32>
}

// Optional inputs in the middle: Clip with only `max`.
// CHECK-LABEL: func @clip_max_only
func.func @clip_max_only(%x: tensor<8xf32>, %max: tensor<f32>) -> tensor<8xf32> {
  // CHECK: "tailor.onnx.Clip"(%{{.*}}, %{{.*}}) <{operandSegmentSizes = array<i32: 1, 0, 1>}>
  %0 = "tailor.onnx.Clip"(%x, %max) {operandSegmentSizes = array<i32: 1, 0, 1>} : (tensor<8xf32>, tensor<f32>) -> tensor<8xf32>
  return %0 : tensor<8xf32>
}

// Several optional results: LayerNormalization with Mean but no InvStdDev.
// CHECK-LABEL: func @layer_norm_mean
func.func @layer_norm_mean(%x: tensor<2x8xf32>, %s: tensor<8xf32>) -> (tensor<2x8xf32>, tensor<2x1xf32>) {
  // CHECK: "tailor.onnx.LayerNormalization"
  // CHECK-SAME: resultSegmentSizes = array<i32: 1, 1, 0>
  %y, %m = "tailor.onnx.LayerNormalization"(%x, %s) {operandSegmentSizes = array<i32: 1, 1, 0>, resultSegmentSizes = array<i32: 1, 1, 0>} : (tensor<2x8xf32>, tensor<8xf32>) -> (tensor<2x8xf32>, tensor<2x1xf32>)
  return %y, %m : tensor<2x8xf32>, tensor<2x1xf32>
}

// Variadic inputs and a constant shape operand (used by ONNX's inference).
// CHECK-LABEL: func @concat_reshape
func.func @concat_reshape(%a: tensor<2x3xf32>, %b: tensor<2x5xf32>) -> tensor<4x4xf32> {
  %shape = "tailor.onnx.Constant"() {value = dense<[4, 4]> : tensor<2xi64>} : () -> tensor<2xi64>
  // CHECK: "tailor.onnx.Concat"(%{{.*}}, %{{.*}}) <{axis = 1 : i64}>
  %c = "tailor.onnx.Concat"(%a, %b) {axis = 1 : i64} : (tensor<2x3xf32>, tensor<2x5xf32>) -> tensor<2x8xf32>
  // CHECK: "tailor.onnx.Reshape"
  %r = "tailor.onnx.Reshape"(%c, %shape) : (tensor<2x8xf32>, tensor<2xi64>) -> tensor<4x4xf32>
  return %r : tensor<4x4xf32>
}

// Unranked and dynamic results are always compatible with what ONNX infers.
// CHECK-LABEL: func @unranked
func.func @unranked(%a: tensor<*xf32>) -> tensor<*xf32> {
  // CHECK: "tailor.onnx.Tanh"
  %0 = "tailor.onnx.Tanh"(%a) : (tensor<*xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}
