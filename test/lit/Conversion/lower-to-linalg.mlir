// RUN: tailor-opt %s --tailor-lower-to-linalg --split-input-file --verify-diagnostics | FileCheck %s

// Static broadcasting: the size-1 operand dim is read at index 0.
// CHECK-LABEL: func.func @add_bcast
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #[[B:.*]], #{{.*}}]
// CHECK: arith.addf
func.func @add_bcast(%a: tensor<3x4xf32>, %b: tensor<1x4xf32>) -> tensor<3x4xf32> {
  %0 = "tailor.onnx.Add"(%a, %b) : (tensor<3x4xf32>, tensor<1x4xf32>) -> tensor<3x4xf32>
  return %0 : tensor<3x4xf32>
}

// -----

// A dynamic size that may be 1 at run time is broadcast at run time, never
// assumed equal: the operand is materialised under an scf.if.
// CHECK-LABEL: func.func @add_dynamic
// CHECK: cf.assert {{.*}} "tailor: operand sizes cannot be broadcast together"
// CHECK: scf.if
// CHECK: linalg.generic
// CHECK: arith.addf
func.func @add_dynamic(%a: tensor<?xf32>, %b: tensor<?xf32>) -> tensor<?xf32> {
  %0 = "tailor.onnx.Add"(%a, %b) : (tensor<?xf32>, tensor<?xf32>) -> tensor<?xf32>
  return %0 : tensor<?xf32>
}

// -----

// Unsigned ONNX types become signless; their ops use the unsigned variants.
// CHECK-LABEL: func.func @div_unsigned
// CHECK-SAME: tensor<4xi8>
// CHECK: arith.divui
func.func @div_unsigned(%a: tensor<4xui8>, %b: tensor<4xui8>) -> tensor<4xui8> {
  %0 = "tailor.onnx.Div"(%a, %b) : (tensor<4xui8>, tensor<4xui8>) -> tensor<4xui8>
  return %0 : tensor<4xui8>
}

// -----

// A product with an unbatched right operand is one linalg.matmul over the
// collapsed rows.
// CHECK-LABEL: func.func @matmul_rows
// CHECK: tensor.collapse_shape {{.*}} {{\[\[}}0, 1], [2]]
// CHECK: linalg.matmul
// CHECK: tensor.expand_shape
func.func @matmul_rows(%x: tensor<?x?x8xf32>, %w: tensor<8x16xf32>) -> tensor<?x?x16xf32> {
  %0 = "tailor.onnx.MatMul"(%x, %w) : (tensor<?x?x8xf32>, tensor<8x16xf32>) -> tensor<?x?x16xf32>
  return %0 : tensor<?x?x16xf32>
}

// -----

// Batched products: a generic contraction with a reduction iterator.
// CHECK-LABEL: func.func @matmul_batched
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "reduction"]
func.func @matmul_batched(%a: tensor<2x3x4xf32>, %b: tensor<2x4x5xf32>) -> tensor<2x3x5xf32> {
  %0 = "tailor.onnx.MatMul"(%a, %b) : (tensor<2x3x4xf32>, tensor<2x4x5xf32>) -> tensor<2x3x5xf32>
  return %0 : tensor<2x3x5xf32>
}

// -----

// Softmax: max, exp of the difference, sum, divide.
// CHECK-LABEL: func.func @softmax
// CHECK: arith.maximumf
// CHECK: math.exp
// CHECK: arith.divf
func.func @softmax(%x: tensor<2x?xf32>) -> tensor<2x?xf32> {
  %0 = "tailor.onnx.Softmax"(%x) {axis = -1 : i64} : (tensor<2x?xf32>) -> tensor<2x?xf32>
  return %0 : tensor<2x?xf32>
}

// -----

// rms_norm: mean of squares, rsqrt, scale.
// CHECK-LABEL: func.func @rms
// CHECK: math.rsqrt
func.func @rms(%x: tensor<?x8xf32>, %w: tensor<8xf32>) -> tensor<?x8xf32> {
  %0 = tailor.rms_norm %x, %w {epsilon = 1.0e-5 : f32} : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

// Every ONNX op of the dialect has a lowering; one that refuses its
// operands names the reason at the op's location.
func.func @refused(%x: tensor<3x2xf32>, %p: tensor<5xi64>) -> tensor<?x?xf32> {
  // expected-error @+2 {{needs pads of length 2 * rank (4)}}
  // expected-error @+1 {{failed to legalize operation 'tailor.onnx.Pad'}}
  %0 = "tailor.onnx.Pad"(%x, %p) : (tensor<3x2xf32>, tensor<5xi64>) -> tensor<?x?xf32>
  return %0 : tensor<?x?xf32>
}
