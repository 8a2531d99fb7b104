// RUN: tailor-opt %s --tailor-lower-to-linalg --split-input-file --verify-diagnostics | FileCheck %s

// ScatterND with add: a loop over the index rows, each combining its
// update slice with the current one.
// CHECK-LABEL: func.func @scatternd_add
// CHECK: scf.for
// CHECK: tensor.extract %arg1
// CHECK: tensor.extract_slice %arg2
// CHECK: tensor.extract_slice
// CHECK: arith.addf
// CHECK: tensor.insert_slice
func.func @scatternd_add(%d: tensor<4x4x4xf32>, %i: tensor<2x1xi64>, %u: tensor<2x4x4xf32>) -> tensor<4x4x4xf32> {
  %0 = "tailor.onnx.ScatterND"(%d, %i, %u) {reduction = "add"} : (tensor<4x4x4xf32>, tensor<2x1xi64>, tensor<2x4x4xf32>) -> tensor<4x4x4xf32>
  return %0 : tensor<4x4x4xf32>
}

// -----

// NonZero: count, then write the coordinates of each non-zero in order.
// CHECK-LABEL: func.func @nonzero
// CHECK: linalg.generic
// CHECK: arith.cmpf une
// CHECK: tensor.empty
// CHECK: scf.for
// CHECK: scf.if
// CHECK: tensor.insert
func.func @nonzero(%x: tensor<2x2xf32>) -> tensor<2x?xi64> {
  %0 = "tailor.onnx.NonZero"(%x) : (tensor<2x2xf32>) -> tensor<2x?xi64>
  return %0 : tensor<2x?xi64>
}

// -----

func.func @scatternd_bad_k(%d: tensor<4xf32>, %i: tensor<2x3xi64>, %u: tensor<2xf32>) -> tensor<4xf32> {
  // expected-error @+2 {{needs an index tuple length k}}
  // expected-error @+1 {{failed to legalize operation 'tailor.onnx.ScatterND'}}
  %0 = "tailor.onnx.ScatterND"(%d, %i, %u) : (tensor<4xf32>, tensor<2x3xi64>, tensor<2xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}
