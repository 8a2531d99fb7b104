// RUN: tailor-opt %s --split-input-file --pass-pipeline="builtin.module(func.func(tailor-parallelize-generics{min-iterations=64}))" | FileCheck %s

// A row reduction [8, 6, 128] x 128 (the softmax's maximum): an scf.forall
// over its first parallel loop, each iteration the generic on one slice.
// CHECK-LABEL: func.func @row_max
// CHECK: scf.forall (%[[I:.*]]) in (8)
// CHECK: tensor.extract_slice %{{.*}}[%[[I]], 0, 0, 0] [1, 6, 128, 128]
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "reduction"]
// CHECK-SAME: ins(%{{.*}} : tensor<1x6x128x128xf32>)
// CHECK: tensor.parallel_insert_slice
#in = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#out = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
func.func @row_max(%x: tensor<8x6x128x128xf32>, %init: tensor<8x6x128xf32>) -> tensor<8x6x128xf32> {
  %r = linalg.generic {indexing_maps = [#in, #out], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%x : tensor<8x6x128x128xf32>) outs(%init : tensor<8x6x128xf32>) {
  ^bb0(%a: f32, %b: f32):
    %m = arith.maximumf %a, %b : f32
    linalg.yield %m : f32
  } -> tensor<8x6x128xf32>
  return %r : tensor<8x6x128xf32>
}

// -----

// A reduction over the leading loop: the first parallel loop of extent >= 2
// (loop 1) is split; the unit loop 2 is not.
// CHECK-LABEL: func.func @column_sum
// CHECK: scf.forall (%[[J:.*]]) in (16)
// CHECK: tensor.extract_slice %{{.*}}[0, %[[J]], 0] [32, 1, 1]
#in2 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#out2 = affine_map<(d0, d1, d2) -> (d1, d2)>
func.func @column_sum(%x: tensor<32x16x1xf32>, %init: tensor<16x1xf32>) -> tensor<16x1xf32> {
  %r = linalg.generic {indexing_maps = [#in2, #out2], iterator_types = ["reduction", "parallel", "parallel"]} ins(%x : tensor<32x16x1xf32>) outs(%init : tensor<16x1xf32>) {
  ^bb0(%a: f32, %b: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<16x1xf32>
  return %r : tensor<16x1xf32>
}

// -----

// Too little work (fewer than min-iterations): left alone.
// CHECK-LABEL: func.func @left_alone
// CHECK-NOT: scf.forall
// CHECK: return
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @left_alone(%small: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %a = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%small : tensor<4x8xf32>) outs(%small : tensor<4x8xf32>) {
  ^bb0(%x: f32, %y: f32):
    %n = arith.negf %x : f32
    linalg.yield %n : f32
  } -> tensor<4x8xf32>
  return %a : tensor<4x8xf32>
}

// -----

// Dynamic sizes [batch, sequence, 64]: behind a run-time check of the
// iteration count (a decode step stays on one thread), the batch and
// sequence loops in about 16 chunks: ceil(n1 / 16) rows of the first when
// n1 >= 16, else one of the first and ceil(n2 / ceil(16 / n1)) of the
// second.
// CHECK-LABEL: func.func @dynamic
// CHECK: %[[N:.*]] = arith.muli %{{.*}}, %c64
// CHECK: %[[BIG:.*]] = arith.cmpi uge, %[[N]], %c64
// CHECK: scf.if %[[BIG]] -> (tensor<?x?x64xf32>) {
// CHECK: %[[B:.*]] = tensor.dim %{{.*}}, %c0
// CHECK: %[[S:.*]] = tensor.dim %{{.*}}, %c1
// CHECK: %[[N1:.*]] = arith.maxui %[[B]], %c1
// CHECK: %[[C1:.*]] = arith.ceildivui %[[N1]], %c16
// CHECK: %[[N2:.*]] = arith.maxui %[[S]], %c1
// CHECK: %[[MANY:.*]] = arith.cmpi uge, %[[N1]], %c16
// CHECK: %[[P:.*]] = arith.ceildivui %c16{{.*}}, %[[N1]]
// CHECK: %[[C2:.*]] = arith.ceildivui %[[N2]], %[[P]]
// CHECK: %[[T1:.*]] = arith.select %[[MANY]], %[[C1]], %c1
// CHECK: %[[T2:.*]] = arith.select %[[MANY]], %[[N2]], %[[C2]]
// CHECK: scf.forall (%{{.*}}, %{{.*}}) = (0, 0) to (%{{.*}}, %{{.*}}) step (%[[T1]], %[[T2]])
// CHECK: linalg.generic {{.*}} ins(%{{.*}} : tensor<?x?x64xf32>)
// CHECK: } else {
// CHECK-NEXT: linalg.generic {{.*}} ins(%{{.*}} : tensor<?x?x64xf32>)
// CHECK-NOT: scf.forall
// CHECK: return
#m3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
func.func @dynamic(%x: tensor<?x?x64xf32>) -> tensor<?x?x64xf32> {
  %r = linalg.generic {indexing_maps = [#m3, #m3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%x : tensor<?x?x64xf32>) outs(%x : tensor<?x?x64xf32>) {
  ^bb0(%a: f32, %y: f32):
    %n = arith.negf %a : f32
    linalg.yield %n : f32
  } -> tensor<?x?x64xf32>
  return %r : tensor<?x?x64xf32>
}

// -----

// A linalg.fill (a micro-kernel's zeroed output, [rows, tiles, 16]): rows
// and tiles in about 16 chunks behind the check.
// CHECK-LABEL: func.func @fill
// CHECK: scf.if
// CHECK: %[[R:.*]] = arith.ceildivui %{{.*}}, %c16
// CHECK: scf.forall (%{{.*}}, %{{.*}}) = (0, 0) to (%{{.*}}, 6) step (%{{.*}}, %{{.*}})
// CHECK: linalg.fill {{.*}} -> tensor<?x?x16xf32>
// CHECK: } else {
// CHECK-NEXT: linalg.fill
#m = affine_map<(d0, d1) -> (d0, d1)>
func.func @fill(%y: tensor<?x6x16xf32>) -> tensor<?x6x16xf32> {
  %c = arith.constant 0.0 : f32
  %f = linalg.fill ins(%c : f32) outs(%y : tensor<?x6x16xf32>) -> tensor<?x6x16xf32>
  return %f : tensor<?x6x16xf32>
}

// -----

// About 16 chunks of a loop of 64: slices of 4 rows.
// CHECK-LABEL: func.func @chunks
// CHECK: scf.forall (%[[C:.*]]) = (0) to (64) step (4)
// CHECK: tensor.extract_slice %{{.*}}[%[[C]], 0] [4, 512]
#id2 = affine_map<(d0, d1) -> (d0, d1)>
func.func @chunks(%x: tensor<64x512xf32>) -> tensor<64x512xf32> {
  %r = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<64x512xf32>) outs(%x : tensor<64x512xf32>) {
  ^bb0(%a: f32, %b: f32):
    %n = arith.negf %a : f32
    linalg.yield %n : f32
  } -> tensor<64x512xf32>
  return %r : tensor<64x512xf32>
}

// -----

// A body with a side effect (a Gather's bounds check: its error handler
// belongs to the calling thread), and an output not indexed by the first
// parallel loop: left alone.
// CHECK-LABEL: func.func @not_split
// CHECK-NOT: scf.forall
// CHECK: return
#rows = affine_map<(d0, d1) -> (d0, d1)>
#cols = affine_map<(d0, d1) -> (d1)>
func.func @not_split(%ids: tensor<64x512xi64>, %x: tensor<64x512xf32>, %acc: tensor<512xf32>) -> (tensor<64x512xf32>, tensor<512xf32>) {
  %a = linalg.generic {indexing_maps = [#rows, #rows], iterator_types = ["parallel", "parallel"]} ins(%ids : tensor<64x512xi64>) outs(%x : tensor<64x512xf32>) {
  ^bb0(%i: i64, %o: f32):
    %c = arith.constant 100 : i64
    %ok = arith.cmpi slt, %i, %c : i64
    cf.assert %ok, "index out of range"
    linalg.yield %o : f32
  } -> tensor<64x512xf32>
  %b = linalg.generic {indexing_maps = [#rows, #cols], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<64x512xf32>) outs(%acc : tensor<512xf32>) {
  ^bb0(%v: f32, %s: f32):
    %t = arith.addf %v, %s : f32
    linalg.yield %t : f32
  } -> tensor<512xf32>
  return %a, %b : tensor<64x512xf32>, tensor<512xf32>
}

// -----

// A fill inside a loop (a product's fill fused into its row blocks by
// tailor-tile-contractions) stays serial: the loop is the unit of work.
// CHECK-LABEL: func.func @fill_in_loop
// CHECK-NOT: scf.forall
// CHECK: linalg.fill
func.func @fill_in_loop(%init: tensor<64x512xf32>) -> tensor<64x512xf32> {
  %zero = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : index
  %c8 = arith.constant 8 : index
  %c64 = arith.constant 64 : index
  %r = scf.for %i = %c0 to %c64 step %c8 iter_args(%acc = %init) -> (tensor<64x512xf32>) {
    %s = tensor.extract_slice %acc[%i, 0] [8, 512] [1, 1] : tensor<64x512xf32> to tensor<8x512xf32>
    %f = linalg.fill ins(%zero : f32) outs(%s : tensor<8x512xf32>) -> tensor<8x512xf32>
    %u = tensor.insert_slice %f into %acc[%i, 0] [8, 512] [1, 1] : tensor<8x512xf32> into tensor<64x512xf32>
    scf.yield %u : tensor<64x512xf32>
  }
  return %r : tensor<64x512xf32>
}
