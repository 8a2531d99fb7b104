// RUN: tailor-opt %s --tailor-instrument-linears | FileCheck %s
// RUN: tailor-opt %s --pass-pipeline="builtin.module(tailor-instrument-linears{hessian=true})" | FileCheck %s --check-prefix=HESSIAN

// Each linear with a constant weight gets its input's per-channel sum of
// squares as an extra result, named calib:<module>:sumsq (the module from
// the MatMul node's scope); a linear with a non-constant weight does not.
// CHECK-LABEL: func.func @main
// CHECK-SAME: -> (tensor<?x3xf32> {onnx.name = "y"}, tensor<2xf32> {onnx.name = "calib:blocks.0.q:sumsq"}, tensor<2xf32> {onnx.name = "calib:blocks.0.q:absmax"})
// CHECK: %[[X:.*]] = tensor.collapse_shape %arg0 {{\[\[}}0, 1], [2]]
// CHECK: %[[S:.*]] = linalg.generic {{.*}}iterator_types = ["reduction", "parallel"]{{.*}} ins(%[[X]] : tensor<?x2xf32>)
// CHECK: arith.mulf
// CHECK: arith.addf
// and max_r |x[r, k]|:
// CHECK: %[[M:.*]] = linalg.generic {{.*}}iterator_types = ["reduction", "parallel"]{{.*}} ins(%[[X]] : tensor<?x2xf32>)
// CHECK: math.absf
// CHECK: arith.maximumf
// CHECK: return %{{.*}}, %[[S]], %[[M]]
// HESSIAN: -> (tensor<?x3xf32> {onnx.name = "y"}, tensor<2xf32> {onnx.name = "calib:blocks.0.q:sumsq"}, tensor<2xf32> {onnx.name = "calib:blocks.0.q:absmax"}, tensor<2x2xf32> {onnx.name = "calib:blocks.0.q:hessian"})
// HESSIAN: linalg.generic {{.*}}iterator_types = ["reduction", "parallel", "parallel"]
func.func @main(%x: tensor<?x?x2xf32>, %v: tensor<2x3xf32>) -> (tensor<?x3xf32> {onnx.name = "y"}) {
  %w = "tailor.onnx.Constant"() <{value = dense<1.0> : tensor<2x3xf32>}> : () -> tensor<2x3xf32>
  %0 = tailor.linear %x, %w : (tensor<?x?x2xf32>, tensor<2x3xf32>) -> tensor<?x?x3xf32> loc("/blocks.0/q/MatMul")
  %1 = tailor.linear %x, %v : (tensor<?x?x2xf32>, tensor<2x3xf32>) -> tensor<?x?x3xf32>
  %2 = "tailor.onnx.Add"(%0, %1) : (tensor<?x?x3xf32>, tensor<?x?x3xf32>) -> tensor<?x?x3xf32>
  %c = "tailor.onnx.Constant"() <{value = dense<[-1, 3]> : tensor<2xi64>}> : () -> tensor<2xi64>
  %3 = "tailor.onnx.Reshape"(%2, %c) : (tensor<?x?x3xf32>, tensor<2xi64>) -> tensor<?x3xf32>
  return %3 : tensor<?x3xf32>
}
