// RUN: tailor-opt %s -tailor-raise -split-input-file | FileCheck %s

// x * cos + rotate_half(x) * sin, rotate_half as LLaMA's exporter writes it.
// CHECK-LABEL: func @rotary
// CHECK-SAME: (%[[X:.*]]: tensor<?x4x?x16xf32>, %[[C:.*]]: tensor<?x16xf32>, %[[S:.*]]: tensor<?x16xf32>)
// CHECK: %[[R:.*]] = tailor.rotary %[[X]], %[[C]], %[[S]]
// CHECK-NOT: tailor.onnx.Neg
// CHECK: return %[[R]]
func.func @rotary(%x: tensor<?x4x?x16xf32>, %cos: tensor<?x16xf32>, %sin: tensor<?x16xf32>) -> tensor<?x4x?x16xf32> {
  %h = "tailor.onnx.Constant"() {value = dense<8> : tensor<1xi64>} : () -> tensor<1xi64>
  %z = "tailor.onnx.Constant"() {value = dense<0> : tensor<1xi64>} : () -> tensor<1xi64>
  %big = "tailor.onnx.Constant"() {value = dense<9223372036854775807> : tensor<1xi64>} : () -> tensor<1xi64>
  %ax = "tailor.onnx.Constant"() {value = dense<3> : tensor<1xi64>} : () -> tensor<1xi64>
  %st = "tailor.onnx.Constant"() {value = dense<1> : tensor<1xi64>} : () -> tensor<1xi64>
  %0 = "tailor.onnx.Mul"(%x, %cos) : (tensor<?x4x?x16xf32>, tensor<?x16xf32>) -> tensor<?x4x?x16xf32>
  %1 = "tailor.onnx.Slice"(%x, %h, %big, %ax, %st) {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>} : (tensor<?x4x?x16xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<?x4x?x8xf32>
  %2 = "tailor.onnx.Neg"(%1) : (tensor<?x4x?x8xf32>) -> tensor<?x4x?x8xf32>
  %3 = "tailor.onnx.Slice"(%x, %z, %h, %ax, %st) {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>} : (tensor<?x4x?x16xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<?x4x?x8xf32>
  %4 = "tailor.onnx.Concat"(%2, %3) {axis = -1 : i64} : (tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>) -> tensor<?x4x?x16xf32>
  %5 = "tailor.onnx.Mul"(%4, %sin) : (tensor<?x4x?x16xf32>, tensor<?x16xf32>) -> tensor<?x4x?x16xf32>
  %6 = "tailor.onnx.Add"(%0, %5) : (tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>) -> tensor<?x4x?x16xf32>
  return %6 : tensor<?x4x?x16xf32>
}

// -----

// Halves swapped the wrong way round (no negation of the upper half): not RoPE.
// CHECK-LABEL: func @not_rotary
// CHECK-NOT: tailor.rotary
func.func @not_rotary(%x: tensor<2x4x3x16xf32>, %cos: tensor<3x16xf32>, %sin: tensor<3x16xf32>) -> tensor<2x4x3x16xf32> {
  %h = "tailor.onnx.Constant"() {value = dense<8> : tensor<1xi64>} : () -> tensor<1xi64>
  %z = "tailor.onnx.Constant"() {value = dense<0> : tensor<1xi64>} : () -> tensor<1xi64>
  %e = "tailor.onnx.Constant"() {value = dense<16> : tensor<1xi64>} : () -> tensor<1xi64>
  %ax = "tailor.onnx.Constant"() {value = dense<-1> : tensor<1xi64>} : () -> tensor<1xi64>
  %0 = "tailor.onnx.Mul"(%x, %cos) : (tensor<2x4x3x16xf32>, tensor<3x16xf32>) -> tensor<2x4x3x16xf32>
  %1 = "tailor.onnx.Slice"(%x, %z, %h, %ax) {operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>} : (tensor<2x4x3x16xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<2x4x3x8xf32>
  %2 = "tailor.onnx.Neg"(%1) : (tensor<2x4x3x8xf32>) -> tensor<2x4x3x8xf32>
  %3 = "tailor.onnx.Slice"(%x, %h, %e, %ax) {operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>} : (tensor<2x4x3x16xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<2x4x3x8xf32>
  %4 = "tailor.onnx.Concat"(%2, %3) {axis = -1 : i64} : (tensor<2x4x3x8xf32>, tensor<2x4x3x8xf32>) -> tensor<2x4x3x16xf32>
  %5 = "tailor.onnx.Mul"(%4, %sin) : (tensor<2x4x3x16xf32>, tensor<3x16xf32>) -> tensor<2x4x3x16xf32>
  %6 = "tailor.onnx.Add"(%0, %5) : (tensor<2x4x3x16xf32>, tensor<2x4x3x16xf32>) -> tensor<2x4x3x16xf32>
  return %6 : tensor<2x4x3x16xf32>
}
