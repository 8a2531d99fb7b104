// RUN: tailor-opt %s --tailor-lower-to-linalg --split-input-file | FileCheck %s

// TopK: the axis is moved last, rows are collapsed, and each row keeps its
// best K by insertion; ties keep the lower index (strict ogt).
// CHECK-LABEL: func.func @topk
// CHECK: linalg.transpose
// CHECK: tensor.collapse_shape
// CHECK: scf.for
// CHECK: scf.for
// CHECK: scf.for
// CHECK: arith.cmpf ogt
// CHECK: tensor.insert
// CHECK: tensor.expand_shape
// CHECK: linalg.transpose
func.func @topk(%x: tensor<?x4x?xf32>) -> (tensor<?x?x?xf32>, tensor<?x?x?xi64>) {
  %k = "tailor.onnx.Constant"() <{value = dense<2> : tensor<1xi64>}> : () -> tensor<1xi64>
  %v, %i = "tailor.onnx.TopK"(%x, %k) <{axis = 1 : i64}> : (tensor<?x4x?xf32>, tensor<1xi64>) -> (tensor<?x?x?xf32>, tensor<?x?x?xi64>)
  return %v, %i : tensor<?x?x?xf32>, tensor<?x?x?xi64>
}

// -----

// smallest=0 on integers compares signed.
// CHECK-LABEL: func.func @topk_smallest
// CHECK: arith.cmpi slt
func.func @topk_smallest(%x: tensor<5xi32>) -> (tensor<2xi32>, tensor<2xi64>) {
  %k = "tailor.onnx.Constant"() <{value = dense<2> : tensor<1xi64>}> : () -> tensor<1xi64>
  %v, %i = "tailor.onnx.TopK"(%x, %k) <{axis = 0 : i64, largest = 0 : i64}> : (tensor<5xi32>, tensor<1xi64>) -> (tensor<2xi32>, tensor<2xi64>)
  return %v, %i : tensor<2xi32>, tensor<2xi64>
}

// -----

// ScatterElements: an index out of range after wrapping is skipped.
// CHECK-LABEL: func.func @scatter_add
// CHECK: scf.for
// CHECK: scf.for
// CHECK: arith.andi
// CHECK: scf.if
// CHECK: arith.addf
// CHECK: tensor.insert
func.func @scatter_add(%d: tensor<3x4xf32>, %i: tensor<2x4xi64>, %u: tensor<2x4xf32>) -> tensor<3x4xf32> {
  %0 = "tailor.onnx.ScatterElements"(%d, %i, %u) <{axis = 0 : i64, reduction = "add"}> : (tensor<3x4xf32>, tensor<2x4xi64>, tensor<2x4xf32>) -> tensor<3x4xf32>
  return %0 : tensor<3x4xf32>
}

// -----

// GatherElements: the index is wrapped, then clamped into the axis.
// CHECK-LABEL: func.func @gather_elements
// CHECK: linalg.generic
// CHECK: arith.maxsi
// CHECK: arith.minsi
// CHECK: tensor.extract
func.func @gather_elements(%d: tensor<?x4xf32>, %i: tensor<?x2xi64>) -> tensor<?x2xf32> {
  %0 = "tailor.onnx.GatherElements"(%d, %i) <{axis = 1 : i64}> : (tensor<?x4xf32>, tensor<?x2xi64>) -> tensor<?x2xf32>
  return %0 : tensor<?x2xf32>
}

// -----

// CumSum (reverse, exclusive) walks the axis from the end and writes the
// running sum before adding to it in place.
// CHECK-LABEL: func.func @cumsum
// CHECK: scf.for {{.*}} iter_args(%[[OUT:.*]] = %{{.*}}, %[[ACC:.*]] = %{{.*}})
// CHECK: arith.subi
// CHECK: tensor.extract_slice
// CHECK: tensor.insert_slice %[[ACC]] into %[[OUT]]
// CHECK: linalg.generic {{.*}} outs(%[[ACC]]
func.func @cumsum(%x: tensor<?x5xf32>) -> tensor<?x5xf32> {
  %a = "tailor.onnx.Constant"() <{value = dense<1> : tensor<i64>}> : () -> tensor<i64>
  %0 = "tailor.onnx.CumSum"(%x, %a) <{exclusive = 1 : i64, reverse = 1 : i64}> : (tensor<?x5xf32>, tensor<i64>) -> tensor<?x5xf32>
  return %0 : tensor<?x5xf32>
}
