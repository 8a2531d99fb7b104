// RUN: tailor-opt %s --tailor-lower-to-linalg | FileCheck %s

// [K/2, N] bytes -> [blocks, rows/2, N]; one generic over (block, byte row,
// nibble, column): the even row's code in the high nibble (shift 4 - 4 *
// nibble), NF4's value from a constant table, times the block's absmax;
// collapsed to [K, N].
// CHECK-LABEL: func.func @nf4
// CHECK: tensor.expand_shape %{{.*}} {{\[}}[0, 1], [2]] output_shape [2, 2, 3] : tensor<4x3xi8> into tensor<2x2x3xi8>
// CHECK: %[[TABLE:.*]] = arith.constant dense<[-1.000000e+00, -0.6961928, -0.525073051
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "parallel"]
// CHECK: arith.extui
// CHECK: linalg.index 2
// CHECK: arith.shrui
// CHECK: arith.andi
// CHECK: tensor.extract %[[TABLE]]
// CHECK: arith.mulf
// CHECK: tensor.collapse_shape %{{.*}} {{\[}}[0, 1, 2], [3]] : tensor<2x2x2x3xf32> into tensor<8x3xf32>
func.func @nf4(%codes: tensor<4x3xi8>, %absmax: tensor<2x3xf32>) -> tensor<8x3xf32> {
  %w = tailor.nf4_dequantize %codes, %absmax {block_size = 4 : i64} : (tensor<4x3xi8>, tensor<2x3xf32>) -> tensor<8x3xf32>
  return %w : tensor<8x3xf32>
}
