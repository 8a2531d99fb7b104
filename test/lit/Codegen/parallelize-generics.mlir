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

// Too little work (fewer than min-iterations), dynamic sizes, a micro-kernel
// call: left alone.
// CHECK-LABEL: func.func @left_alone
// CHECK-NOT: scf.forall
// CHECK: return
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @left_alone(%small: tensor<4x8xf32>, %dyn: tensor<?x128xf32>) -> (tensor<4x8xf32>, tensor<?x128xf32>) {
  %a = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%small : tensor<4x8xf32>) outs(%small : tensor<4x8xf32>) {
  ^bb0(%x: f32, %y: f32):
    %n = arith.negf %x : f32
    linalg.yield %n : f32
  } -> tensor<4x8xf32>
  %b = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%dyn : tensor<?x128xf32>) outs(%dyn : tensor<?x128xf32>) {
  ^bb0(%x: f32, %y: f32):
    %n = arith.negf %x : f32
    linalg.yield %n : f32
  } -> tensor<?x128xf32>
  return %a, %b : tensor<4x8xf32>, tensor<?x128xf32>
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
