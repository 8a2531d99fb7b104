// RUN: tailor-opt %s --tailor-lower-to-linalg --split-input-file --verify-diagnostics | FileCheck %s

// Pad (constant): output sizes from the pads read at run time; the input is
// read only inside it (scf.if), the constant elsewhere.
// CHECK-LABEL: func.func @pad_constant
// CHECK: tensor.extract %arg1
// CHECK: linalg.generic
// CHECK: scf.if
// CHECK: tensor.extract %arg0
// CHECK: scf.yield %{{.*}} : f32
func.func @pad_constant(%x: tensor<3x2xf32>, %p: tensor<4xi64>, %v: tensor<f32>) -> tensor<?x?xf32> {
  %0 = "tailor.onnx.Pad"(%x, %p, %v) {mode = "constant"} : (tensor<3x2xf32>, tensor<4xi64>, tensor<f32>) -> tensor<?x?xf32>
  return %0 : tensor<?x?xf32>
}

// -----

// Pad (edge): the index clamped into the input.
// CHECK-LABEL: func.func @pad_edge
// CHECK: arith.maxsi
// CHECK: arith.minsi
// CHECK-NOT: scf.if
func.func @pad_edge(%x: tensor<3x2xf32>, %p: tensor<4xi64>) -> tensor<?x?xf32> {
  %0 = "tailor.onnx.Pad"(%x, %p) {mode = "edge"} : (tensor<3x2xf32>, tensor<4xi64>) -> tensor<?x?xf32>
  return %0 : tensor<?x?xf32>
}

// -----

// Pad (reflect): one reflection on each side.
// CHECK-LABEL: func.func @pad_reflect
// CHECK: arith.cmpi slt
// CHECK: arith.cmpi sgt
func.func @pad_reflect(%x: tensor<3x2xf32>, %p: tensor<4xi64>) -> tensor<?x?xf32> {
  %0 = "tailor.onnx.Pad"(%x, %p) {mode = "reflect"} : (tensor<3x2xf32>, tensor<4xi64>) -> tensor<?x?xf32>
  return %0 : tensor<?x?xf32>
}

// -----

// OneHot: depth inserted at the axis, negative indices wrapped by depth.
// CHECK-LABEL: func.func @onehot
// CHECK: linalg.generic
// CHECK: tensor.extract %arg0
// CHECK: arith.select
// CHECK: arith.cmpi eq
func.func @onehot(%i: tensor<2x3xi64>, %d: tensor<1xi64>, %v: tensor<2xf32>) -> tensor<2x?x3xf32> {
  %0 = "tailor.onnx.OneHot"(%i, %d, %v) {axis = 1 : i64} : (tensor<2x3xi64>, tensor<1xi64>, tensor<2xf32>) -> tensor<2x?x3xf32>
  return %0 : tensor<2x?x3xf32>
}

// -----

// GatherND with one batch dim: k = 1 index per row after the batch index.
// CHECK-LABEL: func.func @gathernd
// CHECK: linalg.generic
// CHECK: tensor.extract %arg1
// CHECK: tensor.extract %arg0
func.func @gathernd(%d: tensor<2x2x2xi32>, %i: tensor<2x1xi64>) -> tensor<2x2xi32> {
  %0 = "tailor.onnx.GatherND"(%d, %i) {batch_dims = 1 : i64} : (tensor<2x2x2xi32>, tensor<2x1xi64>) -> tensor<2x2xi32>
  return %0 : tensor<2x2xi32>
}

// -----

func.func @pad_bad_length(%x: tensor<3x2xf32>, %p: tensor<3xi64>) -> tensor<?x?xf32> {
  // expected-error @+2 {{needs pads of length 2 * rank (4)}}
  // expected-error @+1 {{failed to legalize operation 'tailor.onnx.Pad'}}
  %0 = "tailor.onnx.Pad"(%x, %p) {mode = "constant"} : (tensor<3x2xf32>, tensor<3xi64>) -> tensor<?x?xf32>
  return %0 : tensor<?x?xf32>
}
