// RUN: tailor-opt %s -split-input-file -verify-diagnostics \
// RUN:   -tailor-specialize-inputs="shapes=input_ids:2x5,past:2x4x0x8" | FileCheck %s

// A model's shape arithmetic (Shape -> Gather -> Concat -> Reshape) folds
// once the inputs are static; every type becomes static.
// CHECK-LABEL: func @model
// CHECK-SAME: (%{{.*}}: tensor<2x5xi64> {onnx.name = "input_ids"}, %{{.*}}: tensor<2x4x0x8xf32> {onnx.name = "past"})
// CHECK-SAME: -> (tensor<2x5x4x8xf32>, tensor<2x4x5x8xf32>)
// CHECK-NOT: tailor.onnx.Shape
// CHECK-NOT: ?
// CHECK: return
func.func @model(%ids: tensor<?x?xi64> {onnx.name = "input_ids"},
                 %past: tensor<?x4x?x8xf32> {onnx.name = "past"})
    -> (tensor<?x?x4x8xf32>, tensor<?x4x?x8xf32>) {
  %table = "tailor.onnx.Constant"() {value = dense<1.0> : tensor<16x32xf32>} : () -> tensor<16x32xf32>
  %x = "tailor.onnx.Gather"(%table, %ids) {axis = 0 : i64} : (tensor<16x32xf32>, tensor<?x?xi64>) -> tensor<?x?x32xf32>
  %shape = "tailor.onnx.Shape"(%x) {start = 0 : i64} : (tensor<?x?x32xf32>) -> tensor<3xi64>
  %i0 = "tailor.onnx.Constant"() {value = dense<[0, 1]> : tensor<2xi64>} : () -> tensor<2xi64>
  %bt = "tailor.onnx.Gather"(%shape, %i0) {axis = 0 : i64} : (tensor<3xi64>, tensor<2xi64>) -> tensor<2xi64>
  %hd = "tailor.onnx.Constant"() {value = dense<[4, 8]> : tensor<2xi64>} : () -> tensor<2xi64>
  %target = "tailor.onnx.Concat"(%bt, %hd) {axis = 0 : i64} : (tensor<2xi64>, tensor<2xi64>) -> tensor<4xi64>
  %r = "tailor.onnx.Reshape"(%x, %target) {allowzero = 0 : i64} : (tensor<?x?x32xf32>, tensor<4xi64>) -> tensor<?x?x4x8xf32>
  %t = "tailor.onnx.Transpose"(%r) {perm = array<i64: 0, 2, 1, 3>} : (tensor<?x?x4x8xf32>) -> tensor<?x4x?x8xf32>
  %kv = "tailor.onnx.Concat"(%past, %t) {axis = 2 : i64} : (tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>) -> tensor<?x4x?x8xf32>
  return %r, %kv : tensor<?x?x4x8xf32>, tensor<?x4x?x8xf32>
}

// -----

// expected-error @+1 {{tailor-specialize-inputs: the entry has no input 'input_ids'}}
func.func @no_such_input(%a: tensor<?x?xi64> {onnx.name = "tokens"}) -> tensor<?x?xi64> {
  return %a : tensor<?x?xi64>
}

// -----

// expected-error @+1 {{tailor-specialize-inputs: input 'input_ids' has type 'tensor<?xi64>', not rank 2}}
func.func @rank(%a: tensor<?xi64> {onnx.name = "input_ids"}) -> tensor<?xi64> {
  return %a : tensor<?xi64>
}

// -----

// expected-error @+1 {{tailor-specialize-inputs: input 'input_ids' has size 3 in dim 0, not 2}}
func.func @contradiction(%a: tensor<3x?xi64> {onnx.name = "input_ids"}) -> tensor<3x?xi64> {
  return %a : tensor<3x?xi64>
}
