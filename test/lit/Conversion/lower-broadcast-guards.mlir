// RUN: tailor-opt %s --tailor-lower-to-linalg --canonicalize --cse --canonicalize --split-input-file | FileCheck %s

// An operand whose size is the result's own (the same SSA value once cse
// has merged the dims) needs no run-time broadcast: the guard's condition
// (d == 1 && d != out) folds to false, and the scf.if with it.
// CHECK-LABEL: func.func @same_size
// CHECK-NOT: scf.if
// CHECK: linalg.generic
// CHECK: arith.addf
// CHECK-NOT: scf.if
// CHECK: return
func.func @same_size(%a: tensor<?xf32>) -> tensor<?xf32> {
  %0 = "tailor.onnx.Add"(%a, %a) : (tensor<?xf32>, tensor<?xf32>) -> tensor<?xf32>
  return %0 : tensor<?xf32>
}

// -----

// Two operands of unrelated dynamic sizes keep their guards.
// CHECK-LABEL: func.func @unrelated
// CHECK: cf.assert {{.*}} "tailor: operand sizes cannot be broadcast together"
// CHECK: scf.if
// CHECK: linalg.generic
// CHECK: arith.addf
func.func @unrelated(%a: tensor<?xf32>, %b: tensor<?xf32>) -> tensor<?xf32> {
  %0 = "tailor.onnx.Add"(%a, %b) : (tensor<?xf32>, tensor<?xf32>) -> tensor<?xf32>
  return %0 : tensor<?xf32>
}
