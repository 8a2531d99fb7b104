// RUN: tailor-opt %s --tailor-tile-contractions --canonicalize --split-input-file | FileCheck %s

// 16 x 40 over K = 8: two full 8 x 32 register tiles, the N remainder (8)
// peeled into a static 8 x 8 tile; the accumulator is carried through the
// K loop in registers (an scf.for over vectors).
// CHECK-LABEL: func.func @static_odd_n
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<8x32xf32>)
// CHECK: vector.contract {{.*}} : vector<8x1xf32>, vector<1x32xf32> into vector<8x32xf32>
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<8x8xf32>)
// CHECK: vector.contract {{.*}} : vector<8x1xf32>, vector<1x8xf32> into vector<8x8xf32>
// CHECK-NOT: linalg.matmul
func.func @static_odd_n(%a: tensor<16x8xf32>, %b: tensor<8x40xf32>, %c: tensor<16x40xf32>) -> tensor<16x40xf32> {
  %0 = linalg.matmul ins(%a, %b : tensor<16x8xf32>, tensor<8x40xf32>) outs(%c : tensor<16x40xf32>) -> tensor<16x40xf32>
  return %0 : tensor<16x40xf32>
}

// -----

// Dynamic M (rows = batch x sequence): versioned on the row count (row
// blocks of 128 shared by the threads: scf.forall). Fewer
// than 8 rows (a decode step): a matrix-vector kernel reading 8 weight rows
// per step, K outside N. Otherwise full 8-row tiles, then the remaining rows
// one at a time with a static 1 x 32 kernel.
// CHECK-LABEL: func.func @dynamic_rows
// CHECK: %[[FEW:.*]] = arith.cmpi slt, %{{.*}}, %c8
// CHECK: scf.if %[[FEW]]
// CHECK: vector.contract {{.*}} : vector<1x8xf32>, vector<8x32xf32> into vector<1x32xf32>
// CHECK: } else {
// CHECK: scf.forall
// CHECK: vector.contract {{.*}} into vector<8x32xf32>
// CHECK: vector.contract {{.*}} : vector<1x1xf32>, vector<1x32xf32> into vector<1x32xf32>
// CHECK-NOT: linalg.matmul
func.func @dynamic_rows(%a: tensor<?x64xf32>, %b: tensor<64x64xf32>, %c: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %0 = linalg.matmul ins(%a, %b : tensor<?x64xf32>, tensor<64x64xf32>) outs(%c : tensor<?x64xf32>) -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

// A dynamic N remainder is left as a scalar kernel (no masks).
// CHECK-LABEL: func.func @dynamic_n
// CHECK: vector.contract {{.*}} into vector<8x32xf32>
// CHECK: linalg.matmul {{.*}} tensor<8x?xf32>
func.func @dynamic_n(%a: tensor<8x16xf32>, %b: tensor<16x?xf32>, %c: tensor<8x?xf32>) -> tensor<8x?xf32> {
  %0 = linalg.matmul ins(%a, %b : tensor<8x16xf32>, tensor<16x?xf32>) outs(%c : tensor<8x?xf32>) -> tensor<8x?xf32>
  return %0 : tensor<8x?xf32>
}

// -----

// Integer products are not this strategy's business.
// CHECK-LABEL: func.func @int_untouched
// CHECK: linalg.matmul
// CHECK-NOT: vector.contract
func.func @int_untouched(%a: tensor<8x8xi32>, %b: tensor<8x8xi32>, %c: tensor<8x8xi32>) -> tensor<8x8xi32> {
  %0 = linalg.matmul ins(%a, %b : tensor<8x8xi32>, tensor<8x8xi32>) outs(%c : tensor<8x8xi32>) -> tensor<8x8xi32>
  return %0 : tensor<8x8xi32>
}

// -----

// threads=false: no scf.forall, the cache tiles are sequential loops.
// RUN: tailor-opt %s --tailor-tile-contractions=threads=false --split-input-file | FileCheck %s --check-prefix=SEQ
// SEQ-NOT: scf.forall
