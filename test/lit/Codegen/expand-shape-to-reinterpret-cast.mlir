// RUN: tailor-opt %s --tailor-expand-shape-to-reinterpret-cast --split-input-file | FileCheck %s

// Two dynamic sizes in one group: sizes from output_shape, strides built
// from the source's innermost stride outwards.
// CHECK-LABEL: func.func @two_dynamic
// CHECK-SAME: (%[[A:.*]]: memref<?x64xf32>, %[[D0:.*]]: index, %[[D1:.*]]: index)
// CHECK: %[[BASE:.*]], %[[OFF:.*]], %{{.*}}:2, %{{.*}}:2 = memref.extract_strided_metadata %[[A]]
// CHECK: %[[C64:.*]] = arith.constant 64 : index
// CHECK: %[[S0:.*]] = arith.muli %[[D1]], %[[C64]]
// CHECK: memref.reinterpret_cast %[[BASE]] to offset: [0], sizes: [%[[D0]], %[[D1]], 64], strides: [%[[S0]], 64, 1]
// CHECK-NOT: memref.expand_shape
func.func @two_dynamic(%a: memref<?x64xf32>, %d0: index, %d1: index) -> memref<?x?x64xf32> {
  %e = memref.expand_shape %a [[0, 1], [2]] output_shape [%d0, %d1, 64] : memref<?x64xf32> into memref<?x?x64xf32>
  return %e : memref<?x?x64xf32>
}

// -----

// One dynamic size per group is left to expand-strided-metadata.
// CHECK-LABEL: func.func @one_dynamic
// CHECK: memref.expand_shape
// CHECK-NOT: memref.reinterpret_cast
func.func @one_dynamic(%a: memref<?x64xf32>, %d0: index) -> memref<?x8x64xf32> {
  %e = memref.expand_shape %a [[0, 1], [2]] output_shape [%d0, 8, 64] : memref<?x64xf32> into memref<?x8x64xf32>
  return %e : memref<?x8x64xf32>
}
