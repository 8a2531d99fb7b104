// RUN: tailor-opt %s --split-input-file --pass-pipeline="builtin.module(func.func(tailor-lower-reductions))" | FileCheck %s

// A row maximum [4, 128] -> [4, 1]: a loop over the rows, the output
// element loaded once, the inner loop carrying it (no store inside), one
// store after it.
// CHECK-LABEL: func.func @row_max
// CHECK: scf.for %[[I:.*]] = %c0{{.*}} to %c4 step %c1{{.*}} {
// CHECK: %[[INIT:.*]] = memref.load %{{.*}}[%[[I]], %c0{{.*}}] : memref<4x1xf32>
// CHECK: %[[R:.*]] = scf.for %[[K:.*]] = %c0{{.*}} to %c128 step %c1{{.*}} iter_args(%[[ACC:.*]] = %[[INIT]]) -> (f32) {
// CHECK: %[[X:.*]] = memref.load %{{.*}}[%[[I]], %[[K]]] : memref<4x128xf32>
// CHECK-NOT: memref.store
// CHECK: %[[M:.*]] = arith.maximumf %[[X]], %[[ACC]] fastmath<reassoc> : f32
// CHECK: scf.yield %[[M]] : f32
// CHECK: memref.store %[[R]], %{{.*}}[%[[I]], %c0{{.*}}] : memref<4x1xf32>
// CHECK-NOT: linalg.generic
#in = affine_map<(d0, d1) -> (d0, d1)>
#out = affine_map<(d0, d1) -> (d0, 0)>
func.func @row_max(%x: memref<4x128xf32>, %y: memref<4x1xf32>) {
  linalg.generic {indexing_maps = [#in, #out], iterator_types = ["parallel", "reduction"]} ins(%x : memref<4x128xf32>) outs(%y : memref<4x1xf32>) {
  ^bb0(%a: f32, %b: f32):
    %m = arith.maximumf %a, %b fastmath<reassoc> : f32
    linalg.yield %m : f32
  }
  return
}

// -----

// Two outputs, a broadcast input, linalg.index and dynamic sizes: both
// accumulators carried, the index the loop's value.
// CHECK-LABEL: func.func @two_outputs
// CHECK-DAG: %[[N:.*]] = memref.dim %{{.*}}, %c0
// CHECK-DAG: %[[K:.*]] = memref.dim %{{.*}}, %c1
// CHECK: scf.for %[[I:.*]] = %c0{{.*}} to %[[N]] step %c1{{.*}} {
// CHECK: memref.load %{{.*}}[%[[I]]] : memref<?xf32>
// CHECK: memref.load %{{.*}}[%[[I]]] : memref<?xi64>
// CHECK: scf.for %[[J:.*]] = %c0{{.*}} to %[[K]] step %c1{{.*}} iter_args(%{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) -> (f32, i64) {
// CHECK: memref.load %{{.*}}[%[[J]]] : memref<?xf32>
// CHECK: arith.index_cast %[[J]] : index to i64
// CHECK: scf.yield %{{.*}}, %{{.*}} : f32, i64
// CHECK: memref.store %{{.*}}, %{{.*}}[%[[I]]] : memref<?xf32>
// CHECK: memref.store %{{.*}}, %{{.*}}[%[[I]]] : memref<?xi64>
#x2 = affine_map<(d0, d1) -> (d0, d1)>
#b2 = affine_map<(d0, d1) -> (d1)>
#o2 = affine_map<(d0, d1) -> (d0)>
func.func @two_outputs(%x: memref<?x?xf32>, %w: memref<?xf32>, %s: memref<?xf32>, %last: memref<?xi64>) {
  linalg.generic {indexing_maps = [#x2, #b2, #o2, #o2], iterator_types = ["parallel", "reduction"]} ins(%x, %w : memref<?x?xf32>, memref<?xf32>) outs(%s, %last : memref<?xf32>, memref<?xi64>) {
  ^bb0(%a: f32, %c: f32, %acc: f32, %l: i64):
    %p = arith.mulf %a, %c : f32
    %t = arith.addf %acc, %p fastmath<reassoc> : f32
    %j = linalg.index 1 : index
    %ji = arith.index_cast %j : index to i64
    linalg.yield %t, %ji : f32, i64
  }
  return
}

// -----

// A reduction over the leading loop (a column sum: LLVM vectorizes the
// inner parallel loop as it is) and an elementwise map: left alone.
// CHECK-LABEL: func.func @left_alone
// CHECK-NOT: scf.for
// CHECK-COUNT-2: linalg.generic
// CHECK: return
#c_in = affine_map<(d0, d1) -> (d0, d1)>
#c_out = affine_map<(d0, d1) -> (d1)>
func.func @left_alone(%x: memref<8x16xf32>, %y: memref<16xf32>, %z: memref<8x16xf32>) {
  linalg.generic {indexing_maps = [#c_in, #c_out], iterator_types = ["reduction", "parallel"]} ins(%x : memref<8x16xf32>) outs(%y : memref<16xf32>) {
  ^bb0(%a: f32, %b: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  }
  linalg.generic {indexing_maps = [#c_in, #c_in], iterator_types = ["parallel", "parallel"]} ins(%x : memref<8x16xf32>) outs(%z : memref<8x16xf32>) {
  ^bb0(%a: f32, %b: f32):
    %n = arith.negf %a : f32
    linalg.yield %n : f32
  }
  return
}

// -----

// An input that reads the output's buffer (through a view): the output is
// stored only after the reduction loop, so the generic is left alone.
// CHECK-LABEL: func.func @aliased
// CHECK-NOT: scf.for
// CHECK: linalg.generic
#a_in = affine_map<(d0, d1) -> (d0)>
#a_x = affine_map<(d0, d1) -> (d0, d1)>
#a_out = affine_map<(d0, d1) -> (d0)>
func.func @aliased(%o: memref<4xf32>, %x: memref<4x8xf32>) {
  %view = memref.cast %o : memref<4xf32> to memref<?xf32>
  linalg.generic {indexing_maps = [#a_in, #a_x, #a_out], iterator_types = ["parallel", "reduction"]} ins(%view, %x : memref<?xf32>, memref<4x8xf32>) outs(%o : memref<4xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %s = arith.addf %a, %b : f32
    %t = arith.addf %s, %c : f32
    linalg.yield %t : f32
  }
  return
}
