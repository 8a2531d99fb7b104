// RUN: tailor-opt %s --tailor-lower-to-linalg --split-input-file | FileCheck %s

// An int8 table, one scale per row: the gather reads the row's integer,
// converts it and multiplies by the row's scale (no dequantized table).
// CHECK-LABEL: func.func @int8_table
// CHECK-DAG: %[[S:.*]] = arith.constant dense<[5.000000e-01, 2.500000e-01]> : tensor<2xf32>
// CHECK: linalg.generic
// CHECK: %[[I:.*]] = arith.index_cast
// CHECK: %[[Q:.*]] = tensor.extract %{{.*}}[%{{.*}}, %{{.*}}] : tensor<2x3xi8>
// CHECK: %[[F:.*]] = arith.sitofp %[[Q]] : i8 to f32
// CHECK: %[[SI:.*]] = tensor.extract %[[S]][%{{.*}}] : tensor<2xf32>
// CHECK: arith.mulf %[[F]], %[[SI]] : f32
// CHECK-NOT: arith.subf
func.func @int8_table(%ids: tensor<?xi64>) -> tensor<?x3xf32> {
  %q = "tailor.onnx.Constant"() <{value = dense<[[1, -2, 3], [4, 5, -6]]> : tensor<2x3xi8>}> : () -> tensor<2x3xi8>
  %t = quant.scast %q : tensor<2x3xi8> to tensor<2x3x!quant.uniform<i8:f32:0, {0.5, 0.25}>>
  %0 = tailor.embedding %t, %ids : (tensor<2x3x!quant.uniform<i8:f32:0, {0.5, 0.25}>>, tensor<?xi64>) -> tensor<?x3xf32>
  return %0 : tensor<?x3xf32>
}

// -----

// Zero points (an imported asymmetric table): (q - z) * s.
// CHECK-LABEL: func.func @zero_points
// CHECK: arith.sitofp
// CHECK: arith.subf
// CHECK: arith.mulf
func.func @zero_points(%ids: tensor<?xi64>) -> tensor<?x3xf32> {
  %q = "tailor.onnx.Constant"() <{value = dense<[[1, -2, 3], [4, 5, -6]]> : tensor<2x3xi8>}> : () -> tensor<2x3xi8>
  %t = quant.scast %q : tensor<2x3xi8> to tensor<2x3x!quant.uniform<i8:f32:0, {0.5:1, 0.25:-3}>>
  %0 = tailor.embedding %t, %ids : (tensor<2x3x!quant.uniform<i8:f32:0, {0.5:1, 0.25:-3}>>, tensor<?xi64>) -> tensor<?x3xf32>
  return %0 : tensor<?x3xf32>
}
