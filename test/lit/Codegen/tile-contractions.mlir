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
// per step, K outside N, over mv-tiles (4) register tiles at once (here
// clamped to N = 64). Otherwise full 8-row tiles, then the remaining rows
// switched on their count: a static kernel for each of 1..7 rows (the
// default, never taken, runs a row at a time).
// CHECK-LABEL: func.func @dynamic_rows
// CHECK: %[[FEW:.*]] = arith.cmpi slt, %{{.*}}, %c8
// CHECK: scf.if %[[FEW]]
// CHECK: vector.contract {{.*}} : vector<1x8xf32>, vector<8x64xf32> into vector<1x64xf32>
// CHECK: } else {
// CHECK: scf.forall
// CHECK: vector.contract {{.*}} into vector<8x32xf32>
// CHECK: scf.index_switch
// CHECK: case 1 {
// CHECK: vector.contract {{.*}} : vector<1x1xf32>, vector<1x32xf32> into vector<1x32xf32>
// CHECK: case 2 {
// CHECK: vector.contract {{.*}} : vector<2x1xf32>, vector<1x32xf32> into vector<2x32xf32>
// CHECK: case 7 {
// CHECK: vector.contract {{.*}} : vector<7x1xf32>, vector<1x32xf32> into vector<7x32xf32>
// CHECK: default {
// CHECK-NOT: linalg.matmul
func.func @dynamic_rows(%a: tensor<?x64xf32>, %b: tensor<64x64xf32>, %c: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %0 = linalg.matmul ins(%a, %b : tensor<?x64xf32>, tensor<64x64xf32>) outs(%c : tensor<?x64xf32>) -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

// A decode step on a packed weight ([N/32, K, 32] panels, 6 of them): the
// matrix-vector kernel takes as many panels at once as divide their count,
// up to mv-tiles (4): 3 (8 x 32 weights per step, 3 accumulator tiles), so
// no chunk of the threads ends in a dynamic remainder.
// CHECK-LABEL: func.func @packed_matvec
// CHECK: scf.forall {{.*}} = (0) to (6) step (3)
// CHECK: vector.contract {{.*}} : vector<1x8xf32>, vector<3x8x32xf32> into vector<1x3x32xf32>
// CHECK-NOT: linalg.generic
#x = affine_map<(m, p, k, n) -> (m, k)>
#w = affine_map<(m, p, k, n) -> (p, k, n)>
#y = affine_map<(m, p, k, n) -> (m, p, n)>
func.func @packed_matvec(%a: tensor<1x64xf32>, %b: tensor<6x64x32xf32>, %c: tensor<1x6x32xf32>) -> tensor<1x6x32xf32> {
  %0 = linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "parallel", "reduction", "parallel"]} ins(%a, %b : tensor<1x64xf32>, tensor<6x64x32xf32>) outs(%c : tensor<1x6x32xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %1 = arith.mulf %in, %in_0 : f32
    %2 = arith.addf %out, %1 : f32
    linalg.yield %2 : f32
  } -> tensor<1x6x32xf32>
  return %0 : tensor<1x6x32xf32>
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

// Cache tiles for the threads: 128 rows are one row of tiles, and 384
// columns in tiles of nc = 128 would be 3 (2 + 1 on two threads); the
// column tiles narrow to 64: 6 tiles. 512 rows are 4 rows of tiles: 12
// tiles of 128 x 128, left as they are. A dynamic row count counts as one
// row of tiles: 128 columns narrow to 32 (4 tiles). A packed weight (12
// panels of 32, 4 per tile: 3 tiles) takes 2 panels per tile.
// CHECK-LABEL: func.func @narrow_columns
// CHECK: scf.forall ({{.*}}) = (0) to (384) step (64)
// CHECK-LABEL: func.func @enough_rows
// CHECK: scf.forall ({{.*}}) = (0, 0) to (512, 384) step (128, 128)
// CHECK-LABEL: func.func @narrow_dynamic_rows
// CHECK: scf.forall ({{.*}}) = (0, 0) to (%{{.*}}, 128) step (128, 32)
// CHECK-LABEL: func.func @narrow_panels
// CHECK: scf.forall ({{.*}}) = (0) to (12) step (2)
// CHECK: vector.contract {{.*}} into vector<8x1x32xf32>
func.func @narrow_columns(%a: tensor<128x8xf32>, %b: tensor<8x384xf32>, %c: tensor<128x384xf32>) -> tensor<128x384xf32> {
  %0 = linalg.matmul ins(%a, %b : tensor<128x8xf32>, tensor<8x384xf32>) outs(%c : tensor<128x384xf32>) -> tensor<128x384xf32>
  return %0 : tensor<128x384xf32>
}
func.func @enough_rows(%a: tensor<512x8xf32>, %b: tensor<8x384xf32>, %c: tensor<512x384xf32>) -> tensor<512x384xf32> {
  %0 = linalg.matmul ins(%a, %b : tensor<512x8xf32>, tensor<8x384xf32>) outs(%c : tensor<512x384xf32>) -> tensor<512x384xf32>
  return %0 : tensor<512x384xf32>
}
func.func @narrow_dynamic_rows(%a: tensor<?x8xf32>, %b: tensor<8x128xf32>, %c: tensor<?x128xf32>) -> tensor<?x128xf32> {
  %0 = linalg.matmul ins(%a, %b : tensor<?x8xf32>, tensor<8x128xf32>) outs(%c : tensor<?x128xf32>) -> tensor<?x128xf32>
  return %0 : tensor<?x128xf32>
}
#px = affine_map<(m, p, k, n) -> (m, k)>
#pw = affine_map<(m, p, k, n) -> (p, k, n)>
#py = affine_map<(m, p, k, n) -> (m, p, n)>
func.func @narrow_panels(%a: tensor<128x8xf32>, %b: tensor<12x8x32xf32>, %c: tensor<128x12x32xf32>) -> tensor<128x12x32xf32> {
  %0 = linalg.generic {indexing_maps = [#px, #pw, #py], iterator_types = ["parallel", "parallel", "reduction", "parallel"]} ins(%a, %b : tensor<128x8xf32>, tensor<12x8x32xf32>) outs(%c : tensor<128x12x32xf32>) {
  ^bb0(%x: f32, %w: f32, %acc: f32):
    %m = arith.mulf %x, %w : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  } -> tensor<128x12x32xf32>
  return %0 : tensor<128x12x32xf32>
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

// -----

// An int8 weight (per-channel quantized): the same register tiles; each
// weight row is converted once (sitofp before the broadcast) and the
// contraction is the f32 one.
// CHECK-LABEL: func.func @int8_weight
// CHECK: %[[Q:.*]] = vector.transfer_read {{.*}} : tensor<8x32xi8>, vector<1x32xi8>
// CHECK: %[[W:.*]] = arith.sitofp %[[Q]] : vector<1x32xi8> to vector<1x32xf32>
// CHECK: vector.contract {{.*}} %[[W]], %{{.*}} : vector<8x1xf32>, vector<1x32xf32> into vector<8x32xf32>
func.func @int8_weight(%a: tensor<16x8xf32>, %b: tensor<8x32xi8>, %c: tensor<16x32xf32>) -> tensor<16x32xf32> {
  %0 = linalg.matmul ins(%a, %b : tensor<16x8xf32>, tensor<8x32xi8>) outs(%c : tensor<16x32xf32>) -> tensor<16x32xf32>
  return %0 : tensor<16x32xf32>
}

// -----

// An output that a linalg.fill initializes (tailor-outline-kernels moves
// the fill into the product's kernel): the fill follows the tiles down to
// the register tiles, where the accumulators start at zero; no fill of the
// whole output is left and the output is never read.
// CHECK-LABEL: func.func @fill_fused
// CHECK-DAG: %[[Z32:.*]] = arith.constant dense<0.000000e+00> : vector<8x32xf32>
// CHECK-DAG: %[[Z8:.*]] = arith.constant dense<0.000000e+00> : vector<8x8xf32>
// CHECK-NOT: linalg.fill
// CHECK-NOT: vector.transfer_read {{.*}}, vector<8x32xf32>
// CHECK: scf.for {{.*}} iter_args(%{{.*}} = %[[Z32]]) -> (vector<8x32xf32>)
// CHECK-NOT: vector.transfer_read {{.*}}, vector<8x8xf32>
// CHECK: scf.for {{.*}} iter_args(%{{.*}} = %[[Z8]]) -> (vector<8x8xf32>)
func.func @fill_fused(%a: tensor<16x8xf32>, %b: tensor<8x40xf32>) -> tensor<16x40xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<16x40xf32>
  %c = linalg.fill ins(%zero : f32) outs(%e : tensor<16x40xf32>) -> tensor<16x40xf32>
  %0 = linalg.matmul ins(%a, %b : tensor<16x8xf32>, tensor<8x40xf32>) outs(%c : tensor<16x40xf32>) -> tensor<16x40xf32>
  return %0 : tensor<16x40xf32>
}

// -----

// K deeper than one cache tile (kc = 512): the fill stays on the cache
// tile, before the K loop that accumulates into it.
// CHECK-LABEL: func.func @fill_deep_k
// CHECK: %[[F:.*]] = linalg.fill {{.*}} -> tensor<16x32xf32>
// CHECK: scf.for {{.*}} step %c512 iter_args(%{{.*}} = %[[F]])
// CHECK: vector.transfer_read {{.*}} : tensor<8x32xf32>, vector<8x32xf32>
func.func @fill_deep_k(%a: tensor<16x1024xf32>, %b: tensor<1024x32xf32>) -> tensor<16x32xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<16x32xf32>
  %c = linalg.fill ins(%zero : f32) outs(%e : tensor<16x32xf32>) -> tensor<16x32xf32>
  %0 = linalg.matmul ins(%a, %b : tensor<16x1024xf32>, tensor<1024x32xf32>) outs(%c : tensor<16x32xf32>) -> tensor<16x32xf32>
  return %0 : tensor<16x32xf32>
}

// -----

// Dynamic rows: both versions get their own copy of the fill. The decode
// version fills its column chunk; full 8-row blocks start at zero; the
// remainder rows (switched on their count) fill their block (32 columns:
// a dynamic row count narrows the cache tiles to 2) and read it.
// CHECK-LABEL: func.func @fill_dynamic_rows
// CHECK: scf.if
// CHECK: linalg.fill {{.*}} -> tensor<?x64xf32>
// CHECK: } else {
// CHECK: scf.forall
// CHECK: iter_args(%{{.*}} = %cst{{.*}}) -> (vector<8x32xf32>)
// CHECK: linalg.fill {{.*}} -> tensor<?x32xf32>
// CHECK: scf.index_switch
func.func @fill_dynamic_rows(%a: tensor<?x64xf32>, %b: tensor<64x64xf32>) -> tensor<?x64xf32> {
  %zero = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : index
  %m = tensor.dim %a, %c0 : tensor<?x64xf32>
  %e = tensor.empty(%m) : tensor<?x64xf32>
  %c = linalg.fill ins(%zero : f32) outs(%e : tensor<?x64xf32>) -> tensor<?x64xf32>
  %0 = linalg.matmul ins(%a, %b : tensor<?x64xf32>, tensor<64x64xf32>) outs(%c : tensor<?x64xf32>) -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

// A second reduction dim that only the left operand indexes (r): not this
// strategy's (it would tile r like a batch dim, shared by the threads while
// every iteration accumulates into the same output, and a fused fill would
// restart the sum for every r); the generic stays as it is.
// CHECK-LABEL: func.func @extra_reduction
// CHECK-NOT: scf.forall
// CHECK: %[[F:.*]] = linalg.fill {{.*}} -> tensor<16x32xf32>
// CHECK: linalg.generic {{.*}} outs(%[[F]] : tensor<16x32xf32>)
func.func @extra_reduction(%a: tensor<16x8x2xf32>, %b: tensor<8x32xf32>) -> tensor<16x32xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<16x32xf32>
  %c = linalg.fill ins(%zero : f32) outs(%e : tensor<16x32xf32>) -> tensor<16x32xf32>
  %0 = linalg.generic {indexing_maps = [affine_map<(m, n, k, r) -> (m, k, r)>, affine_map<(m, n, k, r) -> (k, n)>, affine_map<(m, n, k, r) -> (m, n)>], iterator_types = ["parallel", "parallel", "reduction", "reduction"]} ins(%a, %b : tensor<16x8x2xf32>, tensor<8x32xf32>) outs(%c : tensor<16x32xf32>) {
  ^bb0(%x: f32, %w: f32, %o: f32):
    %m = arith.mulf %x, %w : f32
    %s = arith.addf %o, %m : f32
    linalg.yield %s : f32
  } -> tensor<16x32xf32>
  return %0 : tensor<16x32xf32>
}
