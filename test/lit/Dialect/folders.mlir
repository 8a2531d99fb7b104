// RUN: tailor-opt %s -canonicalize -split-input-file | FileCheck %s

// The exporter's shape arithmetic on a partly dynamic tensor: the static
// entries of Shape fold, the dynamic one stays.
// CHECK-LABEL: func @shape_arithmetic
// CHECK-DAG: %[[C16:.*]] = "tailor.onnx.Constant"() <{value = dense<16> : tensor<i64>}>
// CHECK-DAG: %[[C8:.*]] = "tailor.onnx.Constant"() <{value = dense<8> : tensor<1xi64>}>
// CHECK: %[[SHAPE:.*]] = "tailor.onnx.Shape"(%arg0)
// CHECK: %[[DYN:.*]] = "tailor.onnx.Gather"(%[[SHAPE]]
// CHECK: return %[[C16]], %[[C8]], %[[DYN]]
func.func @shape_arithmetic(%x: tensor<?x4x16xf32>) -> (tensor<i64>, tensor<1xi64>, tensor<i64>) {
  %s = "tailor.onnx.Shape"(%x) : (tensor<?x4x16xf32>) -> tensor<3xi64>
  %i2 = "tailor.onnx.Constant"() {value = dense<2> : tensor<i64>} : () -> tensor<i64>
  %i0 = "tailor.onnx.Constant"() {value = dense<0> : tensor<i64>} : () -> tensor<i64>
  %ax = "tailor.onnx.Constant"() {value = dense<0> : tensor<1xi64>} : () -> tensor<1xi64>
  %d = "tailor.onnx.Gather"(%s, %i2) {axis = 0 : i64} : (tensor<3xi64>, tensor<i64>) -> tensor<i64>
  %half = "tailor.onnx.Div"(%d, %i2) : (tensor<i64>, tensor<i64>) -> tensor<i64>
  %c = "tailor.onnx.Cast"(%half) {to = 7 : i64} : (tensor<i64>) -> tensor<i64>
  %u = "tailor.onnx.Unsqueeze"(%c, %ax) : (tensor<i64>, tensor<1xi64>) -> tensor<1xi64>
  %b = "tailor.onnx.Gather"(%s, %i0) {axis = 0 : i64} : (tensor<3xi64>, tensor<i64>) -> tensor<i64>
  return %d, %u, %b : tensor<i64>, tensor<1xi64>, tensor<i64>
}

// -----

// Concat of constants and static Shape entries; Equal/Where on them.
// CHECK-LABEL: func @concat_where
// CHECK: %[[R:.*]] = "tailor.onnx.Constant"() <{value = dense<[2, 3, 1]> : tensor<3xi64>}>
// CHECK-NOT: tailor.onnx.Where
// CHECK: return %[[R]]
func.func @concat_where(%x: tensor<2x3xf32>) -> tensor<3xi64> {
  %s = "tailor.onnx.Shape"(%x) : (tensor<2x3xf32>) -> tensor<2xi64>
  %m = "tailor.onnx.Constant"() {value = dense<-1> : tensor<1xi64>} : () -> tensor<1xi64>
  %c = "tailor.onnx.Concat"(%s, %m) {axis = 0 : i64} : (tensor<2xi64>, tensor<1xi64>) -> tensor<3xi64>
  %e = "tailor.onnx.Equal"(%c, %m) : (tensor<3xi64>, tensor<1xi64>) -> tensor<3xi1>
  %one = "tailor.onnx.Constant"() {value = dense<1> : tensor<i64>} : () -> tensor<i64>
  %w = "tailor.onnx.Where"(%e, %one, %c) : (tensor<3xi1>, tensor<i64>, tensor<3xi64>) -> tensor<3xi64>
  return %w : tensor<3xi64>
}

// -----

// No-op reshapes, expands, identities and inference-mode dropout disappear.
// CHECK-LABEL: func @no_ops
// CHECK-NEXT: return %arg0
func.func @no_ops(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %shape = "tailor.onnx.Constant"() {value = dense<[2, 3]> : tensor<2xi64>} : () -> tensor<2xi64>
  %0 = "tailor.onnx.Reshape"(%x, %shape) : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<2x3xf32>
  %1 = "tailor.onnx.Expand"(%0, %shape) : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<2x3xf32>
  %2 = "tailor.onnx.Identity"(%1) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %3 = "tailor.onnx.Dropout"(%2) {operandSegmentSizes = array<i32: 1, 0, 0>} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return %3 : tensor<2x3xf32>
}

// -----

// Weights are never folded: a large float Mul stays.
// CHECK-LABEL: func @no_weight_folding
// CHECK: "tailor.onnx.Mul"
func.func @no_weight_folding() -> tensor<64x64xf32> {
  %w = "tailor.onnx.Constant"() {value = dense<2.0> : tensor<64x64xf32>} : () -> tensor<64x64xf32>
  %s = "tailor.onnx.Constant"() {value = dense<0.5> : tensor<f32>} : () -> tensor<f32>
  %0 = "tailor.onnx.Mul"(%w, %s) : (tensor<64x64xf32>, tensor<f32>) -> tensor<64x64xf32>
  return %0 : tensor<64x64xf32>
}

// -----

// Dynamic shapes do not fold.
// CHECK-LABEL: func @dynamic_shape
// CHECK: "tailor.onnx.Shape"
func.func @dynamic_shape(%x: tensor<?x3xf32>) -> tensor<2xi64> {
  %s = "tailor.onnx.Shape"(%x) : (tensor<?x3xf32>) -> tensor<2xi64>
  return %s : tensor<2xi64>
}
