// RUN: tailor-opt %s --tailor-lower-to-linalg --split-input-file | FileCheck %s

// Squeeze with axes computed at run time: an scf.index_switch on the
// (normalized) axes. Only axis 0 fits the static sizes (the only size-1
// dim), so there is one case; anything else asserts.
// CHECK-LABEL: func.func @squeeze_runtime_axes
// CHECK: scf.index_switch
// CHECK: case 4 {
// CHECK: tensor.collapse_shape
// CHECK: default {
// CHECK: cf.assert %false{{.*}}, "tailor: axes out of range, repeated, or not fitting the sizes"
func.func @squeeze_runtime_axes(%x: tensor<1x3x4xf32>, %axes: tensor<1xi64>) -> tensor<3x4xf32> {
  %0 = "tailor.onnx.Squeeze"(%x, %axes) : (tensor<1x3x4xf32>, tensor<1xi64>) -> tensor<3x4xf32>
  return %0 : tensor<3x4xf32>
}

// -----

// CumSum over a runtime axis of a 2-D tensor: one case per axis.
// CHECK-LABEL: func.func @cumsum_runtime_axis
// CHECK: scf.index_switch
// CHECK: case 3 {
// CHECK: case 4 {
// CHECK: default {
func.func @cumsum_runtime_axis(%x: tensor<2x3xf32>, %axis: tensor<i64>) -> tensor<2x3xf32> {
  %0 = "tailor.onnx.CumSum"(%x, %axis) : (tensor<2x3xf32>, tensor<i64>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

// Slice without axes and starts of a length known only at run time: the
// axes [0, n) are generated from that length, then switched on.
// CHECK-LABEL: func.func @slice_default_axes_dynamic
// CHECK: tensor.dim %arg1
// CHECK: tensor.generate
// CHECK: scf.index_switch
func.func @slice_default_axes_dynamic(%x: tensor<3x4xf32>, %s: tensor<?xi64>, %e: tensor<?xi64>) -> tensor<?x?xf32> {
  %0 = "tailor.onnx.Slice"(%x, %s, %e) <{operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>}> : (tensor<3x4xf32>, tensor<?xi64>, tensor<?xi64>) -> tensor<?x?xf32>
  return %0 : tensor<?x?xf32>
}
