// RUN: tailor-opt %s --tailor-lower-to-linalg --split-input-file | FileCheck %s

// Groups of rows: the range per group and column by one reduction (min
// and max with 0), then quantize and dequantize per element (round half to
// even, clamped to [-8, 7]; asymmetric: a zero point).
// CHECK-LABEL: func.func @int4_asym
// CHECK: tensor.expand_shape %{{.*}} {{\[}}[0, 1], [2]] output_shape [2, 2, 3]
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction", "parallel"]
// CHECK: arith.minimumf
// CHECK: arith.maximumf
// CHECK: linalg.generic
// CHECK: arith.extf
// CHECK: arith.constant 1.500000e+01
// CHECK: math.roundeven
// CHECK: math.roundeven
// CHECK: tensor.collapse_shape
func.func @int4_asym(%w: tensor<4x3xf32>) -> tensor<4x3xf32> {
  %y = tailor.fake_quant %w {bits = 4 : i64, group_size = 2 : i64, symmetric = false} : (tensor<4x3xf32>) -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}

// -----

// 8 bits: one group of all K rows per column, symmetric, max|w| / 127.
// CHECK-LABEL: func.func @int8
// CHECK: output_shape [1, 4, 3]
// CHECK: arith.constant 1.270000e+02
func.func @int8(%w: tensor<4x3xf32>) -> tensor<4x3xf32> {
  %y = tailor.fake_quant %w {bits = 8 : i64, group_size = 0 : i64, symmetric = true} : (tensor<4x3xf32>) -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}
