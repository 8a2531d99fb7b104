// RUN: tailor-opt %s --split-input-file --tailor-tile-transposes | FileCheck %s
// RUN: tailor-opt %s --split-input-file --tailor-tile-transposes=block=8 | FileCheck %s --check-prefix=B8
// RUN: not tailor-opt %s --split-input-file --tailor-tile-transposes=block=1 2>&1 | FileCheck %s --check-prefix=BAD

// BAD: tailor-tile-transposes: block must be >= 2

// A transpose of the innermost dim: 16 x 16 blocks under an scf.forall,
// each block transposed in registers (vector.shuffle), not with scalar or
// scatter stores.
// CHECK-LABEL: func.func @rows_to_columns
// CHECK: scf.forall (%{{.*}}, %{{.*}}, %{{.*}}) = (0, 0, 0) to (8, 1024, 128) step (1, 16, 16)
// CHECK: vector.transfer_read {{.*}} : tensor<1x16x16xf32>, vector<16x16xf32>
// CHECK: vector.shuffle
// CHECK: vector.transfer_write {{.*}} : vector<16x16xf32>, tensor<1x16x16xf32>
// CHECK-NOT: linalg.transpose
func.func @rows_to_columns(%x: tensor<8x128x1024xf32>) -> tensor<8x1024x128xf32> {
  %e = tensor.empty() : tensor<8x1024x128xf32>
  %t = linalg.transpose ins(%x : tensor<8x128x1024xf32>) outs(%e : tensor<8x1024x128xf32>) permutation = [0, 2, 1]
  return %t : tensor<8x1024x128xf32>
}

// -----

// Attention's P^T (batch and head dims tiled by 1). With another block size
// the blocks are left to the loop lowering (no 16 x 16 shuffles).
// CHECK-LABEL: func.func @heads
// CHECK: scf.forall (%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) = (0, 0, 0, 0) to (2, 4, 64, 32) step (1, 1, 16, 16)
// CHECK: vector.shuffle
// B8-LABEL: func.func @heads
// B8: scf.forall (%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) = (0, 0, 0, 0) to (2, 4, 64, 32) step (1, 1, 8, 8)
// B8: linalg.transpose {{.*}} outs(%{{.*}} : tensor<1x1x8x8xf32>) permutation = [0, 1, 3, 2]
func.func @heads(%x: tensor<2x4x32x64xf32>) -> tensor<2x4x64x32xf32> {
  %e = tensor.empty() : tensor<2x4x64x32xf32>
  %t = linalg.transpose ins(%x : tensor<2x4x32x64xf32>) outs(%e : tensor<2x4x64x32xf32>) permutation = [0, 1, 3, 2]
  return %t : tensor<2x4x64x32xf32>
}

// -----

// Left alone: the innermost dim stays innermost (rows are copied whole), a
// dynamic transposed size, a size below one block.
// CHECK-LABEL: func.func @untouched
// CHECK-NOT: scf.forall
// CHECK-COUNT-3: linalg.transpose
func.func @untouched(%x: tensor<8x128x64xf32>, %y: tensor<?x64xf32>, %z: tensor<8x64xf32>) -> (tensor<128x8x64xf32>, tensor<64x?xf32>, tensor<64x8xf32>) {
  %e = tensor.empty() : tensor<128x8x64xf32>
  %a = linalg.transpose ins(%x : tensor<8x128x64xf32>) outs(%e : tensor<128x8x64xf32>) permutation = [1, 0, 2]
  %c0 = arith.constant 0 : index
  %n = tensor.dim %y, %c0 : tensor<?x64xf32>
  %f = tensor.empty(%n) : tensor<64x?xf32>
  %b = linalg.transpose ins(%y : tensor<?x64xf32>) outs(%f : tensor<64x?xf32>) permutation = [1, 0]
  %g = tensor.empty() : tensor<64x8xf32>
  %c = linalg.transpose ins(%z : tensor<8x64xf32>) outs(%g : tensor<64x8xf32>) permutation = [1, 0]
  return %a, %b, %c : tensor<128x8x64xf32>, tensor<64x?xf32>, tensor<64x8xf32>
}
