// RUN: tailor-opt %s --pass-pipeline="builtin.module(func.func(tailor-pack-weights{min-bytes=0}))" --split-input-file | FileCheck %s
// RUN: tailor-opt %s --pass-pipeline="builtin.module(func.func(tailor-pack-weights{min-bytes=0 panel=4}))" --split-input-file | FileCheck %s --check-prefix=PANEL4
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(func.func(tailor-pack-weights{min-bytes=0 panel=0}))" --split-input-file -o /dev/null 2>&1 | FileCheck %s --check-prefix=BADPANEL

// BADPANEL: tailor-pack-weights: panel must be >= 1

// A constant [K, N] weight becomes [N/32, K, 32] panels: W[k, 32b + j] is
// at Wp[b, k, j] (here W[k, n] = n, so panel 1 row 0 holds 32..63).
// CHECK-LABEL: func.func @matmul
// CHECK: %[[W:.*]] = arith.constant dense_resource<tailor_packed> : tensor<2x2x32xf32>
// CHECK: %[[I:.*]] = tensor.expand_shape %{{.*}} {{\[\[}}0], [1, 2]] output_shape [%{{.*}}, 2, 32]
// CHECK: %[[G:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction", "parallel"]
// CHECK-SAME: ins(%{{.*}}, %[[W]] : tensor<?x2xf32>, tensor<2x2x32xf32>) outs(%[[I]] : tensor<?x2x32xf32>)
// CHECK: tensor.collapse_shape %[[G]] {{\[\[}}0], [1, 2]] : tensor<?x2x32xf32> into tensor<?x64xf32>
// The blob (after its alignment word): panel 0 = rows 0 and 1 of columns
// 0..31, then panel 1 = rows 0 and 1 of columns 32..63.
// CHECK: tailor_packed: "0x40000000000000000000803F0000004000004040000080400000A0400000C0400000E0400000004100001041000020410000304100004041000050410000604100007041000080410000884100009041000098410000A0410000A8410000B0410000B8410000C0410000C8410000D0410000D8410000E0410000E8410000F0410000F841000000000000803F0000004000004040000080400000A0400000C0400000E0400000004100001041000020410000304100004041000050410000604100007041000080410000884100009041000098410000A0410000A8410000B0410000B8410000C0410000C8410000D0410000D8410000E0410000E8410000F0410000F84100000042000004420000084200000C4200001042000014420000184200001C4200002042000024420000284200002C4200003042000034420000384200003C4200004042000044420000484200004C4200005042000054420000584200005C4200006042000064420000684200006C4200007042000074420000784200007C4200000042000004420000084200000C4200001042000014420000184200001C4200002042000024420000284200002C4200003042000034420000384200003C4200004042000044420000484200004C4200005042000054420000584200005C4200006042000064420000684200006C4200007042000074420000784200007C42"
func.func @matmul(%x: tensor<?x2xf32>, %init: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %w = arith.constant dense<[[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0, 18.0, 19.0, 20.0, 21.0, 22.0, 23.0, 24.0, 25.0, 26.0, 27.0, 28.0, 29.0, 30.0, 31.0, 32.0, 33.0, 34.0, 35.0, 36.0, 37.0, 38.0, 39.0, 40.0, 41.0, 42.0, 43.0, 44.0, 45.0, 46.0, 47.0, 48.0, 49.0, 50.0, 51.0, 52.0, 53.0, 54.0, 55.0, 56.0, 57.0, 58.0, 59.0, 60.0, 61.0, 62.0, 63.0], [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0, 18.0, 19.0, 20.0, 21.0, 22.0, 23.0, 24.0, 25.0, 26.0, 27.0, 28.0, 29.0, 30.0, 31.0, 32.0, 33.0, 34.0, 35.0, 36.0, 37.0, 38.0, 39.0, 40.0, 41.0, 42.0, 43.0, 44.0, 45.0, 46.0, 47.0, 48.0, 49.0, 50.0, 51.0, 52.0, 53.0, 54.0, 55.0, 56.0, 57.0, 58.0, 59.0, 60.0, 61.0, 62.0, 63.0]]> : tensor<2x64xf32>
  %0 = linalg.matmul ins(%x, %w : tensor<?x2xf32>, tensor<2x64xf32>) outs(%init : tensor<?x64xf32>) -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

// N not a multiple of the panel, a weight that is an argument, a single
// panel: left alone.
// CHECK-LABEL: func.func @untouched
// CHECK-NOT: tailor_packed
// CHECK-COUNT-3: linalg.matmul
func.func @untouched(%x: tensor<4x2xf32>, %w: tensor<2x64xf32>, %i48: tensor<4x48xf32>, %i64: tensor<4x64xf32>, %i32: tensor<4x32xf32>) -> (tensor<4x48xf32>, tensor<4x64xf32>, tensor<4x32xf32>) {
  %c48 = arith.constant dense<1.0> : tensor<2x48xf32>
  %c32 = arith.constant dense<[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0, 18.0, 19.0, 20.0, 21.0, 22.0, 23.0, 24.0, 25.0, 26.0, 27.0, 28.0, 29.0, 30.0, 31.0, 32.0], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0, 18.0, 19.0, 20.0, 21.0, 22.0, 23.0, 24.0, 25.0, 26.0, 27.0, 28.0, 29.0, 30.0, 31.0, 32.0]]> : tensor<2x32xf32>
  %0 = linalg.matmul ins(%x, %c48 : tensor<4x2xf32>, tensor<2x48xf32>) outs(%i48 : tensor<4x48xf32>) -> tensor<4x48xf32>
  %1 = linalg.matmul ins(%x, %w : tensor<4x2xf32>, tensor<2x64xf32>) outs(%i64 : tensor<4x64xf32>) -> tensor<4x64xf32>
  %2 = linalg.matmul ins(%x, %c32 : tensor<4x2xf32>, tensor<2x32xf32>) outs(%i32 : tensor<4x32xf32>) -> tensor<4x32xf32>
  return %0, %1, %2 : tensor<4x48xf32>, tensor<4x64xf32>, tensor<4x32xf32>
}

// -----

// An int8 weight (per-channel quantized) packs the same way, one byte per
// element; the contraction converts it to f32 before the multiply.
// (Panels of 4 here; with the default 32 the 8 columns stay unpacked.)
// CHECK-LABEL: func.func @int8
// CHECK: linalg.matmul
// PANEL4-LABEL: func.func @int8
// PANEL4: %[[W:.*]] = arith.constant dense_resource<tailor_packed{{.*}}> : tensor<2x1x4xi8>
// PANEL4: linalg.generic
// PANEL4-SAME: ins(%{{.*}}, %[[W]] : tensor<?x1xf32>, tensor<2x1x4xi8>)
// PANEL4: arith.sitofp %{{.*}} : i8 to f32
// PANEL4: arith.mulf
// PANEL4: tailor_packed{{.*}}: "0x400000000001020304050607"
func.func @int8(%x: tensor<?x1xf32>, %init: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %w = arith.constant dense<[[0, 1, 2, 3, 4, 5, 6, 7]]> : tensor<1x8xi8>
  %0 = linalg.matmul ins(%x, %w : tensor<?x1xf32>, tensor<1x8xi8>) outs(%init : tensor<?x8xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}
