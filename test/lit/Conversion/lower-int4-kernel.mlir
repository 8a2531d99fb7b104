// RUN: tailor-opt %s --tailor-lower-to-linalg --split-input-file | FileCheck %s
// RUN: tailor-opt %s --tailor-lower-to-linalg="int4-activations=f32" --split-input-file | FileCheck %s --check-prefix=F32
// RUN: not tailor-opt %s --tailor-lower-to-linalg="int4-activations=int3" --split-input-file 2>&1 | FileCheck %s --check-prefix=BAD

// An int4 weight (values in [-8, 7], K, N and the group multiples of 8)
// of a constant: the activations are quantized per row and group to int8,
// and the product is one generic that the micro-kernel tailor_q4_matmul
// computes (library_call), over the weight packed here in tiles of 8
// columns, two rows per byte (u = q + 8). Row k of W holds k - 4, so
// u = k + 4: byte i of a column = rows i (low nibble) and 4 + i (high):
// 0x84 0x95 0xA6 0xB7, for each of the 8 columns.
// CHECK-LABEL: func.func @int4
// CHECK-DAG: %[[WP:.*]] = arith.constant dense_resource<[[WPB:tailor_int4[_0-9]*]]> : tensor<1x1x8x4xi8>
// CHECK-DAG: %[[WS:.*]] = arith.constant dense_resource<[[WSB:tailor_int4[_0-9]*]]> : tensor<1x1x8xf32>
// 1. a[r, g] = max |x|, then xs = a / 127 and 127 / a (0 where a = 0).
// CHECK: %[[A:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]
// CHECK: math.absf
// CHECK: arith.maxnumf
// CHECK: %[[S:.*]]:2 = linalg.generic {{.*}} ins(%[[A]] : tensor<?x1xf32>)
// CHECK: arith.divf
// CHECK: arith.select
// CHECK: %[[XQ:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %[[S]]#1 : tensor<?x1x8xf32>, tensor<?x1xf32>) outs(%{{.*}} : tensor<?x1x8xi8>)
// CHECK: math.roundeven
// CHECK: arith.fptosi {{.*}} : f32 to i8
// CHECK: %[[X4:.*]] = tensor.expand_shape %{{.*}} {{\[\[}}0], [1, 2, 3]] output_shape [%{{.*}}, 1, 2, 4] : tensor<?x8xi8> into tensor<?x1x2x4xi8>
// 2. loops (r, t, c, kb, h, i): y[r, t, c] += xs * ws * xq * (u - 8).
// CHECK: %[[Y:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction", "reduction"], library_call = "tailor_q4_matmul"} ins(%[[X4]], %[[S]]#0, %[[WP]], %[[WS]] : tensor<?x1x2x4xi8>, tensor<?x1xf32>, tensor<1x1x8x4xi8>, tensor<1x1x8xf32>) outs(%{{.*}} : tensor<?x1x8xf32>)
// CHECK: linalg.index 4
// CHECK: arith.shrui
// CHECK: arith.andi
// CHECK: arith.constant 8 : i32
// CHECK: tensor.collapse_shape %[[Y]] {{\[\[}}0], [1, 2]] : tensor<?x1x8xf32> into tensor<?x8xf32>
// CHECK: [[WPB]]: "0x400000008495A6B78495A6B78495A6B78495A6B78495A6B78495A6B78495A6B78495A6B7"
// CHECK: [[WSB]]: "0x400000000000003F0000003F0000003F0000003F0000003F0000003F0000003F0000003F"
// F32-LABEL: func.func @int4
// F32-NOT: library_call
// F32: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "reduction"]
// F32-NOT: library_call
// BAD: error: tailor-lower-to-linalg: int4-activations must be int8 or f32, not 'int3'
func.func @int4(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %q = arith.constant dense<[
    [-4, -4, -4, -4, -4, -4, -4, -4],
    [-3, -3, -3, -3, -3, -3, -3, -3],
    [-2, -2, -2, -2, -2, -2, -2, -2],
    [-1, -1, -1, -1, -1, -1, -1, -1],
    [0, 0, 0, 0, 0, 0, 0, 0],
    [1, 1, 1, 1, 1, 1, 1, 1],
    [2, 2, 2, 2, 2, 2, 2, 2],
    [3, 3, 3, 3, 3, 3, 3, 3]]> : tensor<8x8xi8>
  %w = quant.scast %q : tensor<8x8xi8> to tensor<8x8x!quant.uniform<i8<-8:7>:f32:{0:8, 1:1}, {{0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5}}>>
  %0 = tailor.linear %x, %w : (tensor<?x8xf32>, tensor<8x8x!quant.uniform<i8<-8:7>:f32:{0:8, 1:1}, {{0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5}}>>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

// Zero points (asymmetric): tailor_q4z_matmul, with z + 8 per group and
// column as a fifth operand.
// CHECK-LABEL: func.func @zero_points
// CHECK-DAG: %[[WZ:.*]] = arith.constant dense_resource<[[WZB:tailor_int4[_0-9]*]]> : tensor<1x1x8xi8>
// CHECK: linalg.generic {{.*}}library_call = "tailor_q4z_matmul"} ins(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[WZ]] : tensor<?x1x2x4xi8>, tensor<?x1xf32>, tensor<1x1x8x4xi8>, tensor<1x1x8xf32>, tensor<1x1x8xi8>)
// CHECK: arith.extui
// CHECK: [[WZB]]: "0x400000000A0A0A0A0A0A0A0A"
func.func @zero_points(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %q = arith.constant dense<1> : tensor<8x8xi8>
  %w = quant.scast %q : tensor<8x8xi8> to tensor<8x8x!quant.uniform<i8<-8:7>:f32:{0:8, 1:1}, {{0.5:2, 0.5:2, 0.5:2, 0.5:2, 0.5:2, 0.5:2, 0.5:2, 0.5:2}}>>
  %0 = tailor.linear %x, %w : (tensor<?x8xf32>, tensor<8x8x!quant.uniform<i8<-8:7>:f32:{0:8, 1:1}, {{0.5:2, 0.5:2, 0.5:2, 0.5:2, 0.5:2, 0.5:2, 0.5:2, 0.5:2}}>>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

// Not for the kernel: N = 4 is no multiple of 8, and a weight that is no
// constant: the f32 group contraction.
// CHECK-LABEL: func.func @narrow
// CHECK-NOT: library_call
func.func @narrow(%x: tensor<?x8xf32>) -> tensor<?x4xf32> {
  %q = arith.constant dense<1> : tensor<8x4xi8>
  %w = quant.scast %q : tensor<8x4xi8> to tensor<8x4x!quant.uniform<i8<-8:7>:f32:{0:8, 1:1}, {{0.5, 0.5, 0.5, 0.5}}>>
  %0 = tailor.linear %x, %w : (tensor<?x8xf32>, tensor<8x4x!quant.uniform<i8<-8:7>:f32:{0:8, 1:1}, {{0.5, 0.5, 0.5, 0.5}}>>) -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// CHECK-LABEL: func.func @argument
// CHECK-NOT: library_call
func.func @argument(%x: tensor<?x8xf32>, %q: tensor<8x8xi8>) -> tensor<?x8xf32> {
  %w = quant.scast %q : tensor<8x8xi8> to tensor<8x8x!quant.uniform<i8<-8:7>:f32:{0:8, 1:1}, {{0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5}}>>
  %0 = tailor.linear %x, %w : (tensor<?x8xf32>, tensor<8x8x!quant.uniform<i8<-8:7>:f32:{0:8, 1:1}, {{0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5}}>>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}
