// RUN: tailor-opt %s --tailor-fuse-elementwise --split-input-file | FileCheck %s

#id = affine_map<(i, j) -> (i, j)>

// An elementwise producer of a matrix product's operand stays separate:
// the product remains a contraction (mulf + addf only).
// CHECK-LABEL: func.func @keep_contraction
// CHECK: linalg.generic
// CHECK: arith.addf
// CHECK: linalg.matmul
func.func @keep_contraction(%x: tensor<4x8xf32>, %r: tensor<4x8xf32>, %w: tensor<8x16xf32>, %o: tensor<4x16xf32>, %e: tensor<4x8xf32>) -> tensor<4x16xf32> {
  %s = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%x, %r : tensor<4x8xf32>, tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a0: f32, %a1: f32, %out: f32):
    %v = arith.addf %a0, %a1 : f32
    linalg.yield %v : f32
  } -> tensor<4x8xf32>
  %m = linalg.matmul ins(%s, %w : tensor<4x8xf32>, tensor<8x16xf32>) outs(%o : tensor<4x16xf32>) -> tensor<4x16xf32>
  return %m : tensor<4x16xf32>
}

// -----

#id = affine_map<(i, j) -> (i, j)>

// Elementwise chains still fuse; a constant exponent 2 becomes a multiply.
// CHECK-LABEL: func.func @fuse_chain
// CHECK: linalg.generic
// CHECK-NOT: math.powf
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK-NOT: linalg.generic
func.func @fuse_chain(%x: tensor<4x8xf32>, %y: tensor<4x8xf32>, %e: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %two = arith.constant 2.0 : f32
  %p = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a0: f32, %out: f32):
    %v = math.powf %a0, %two : f32
    linalg.yield %v : f32
  } -> tensor<4x8xf32>
  %s = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%p, %y : tensor<4x8xf32>, tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a0: f32, %a1: f32, %out: f32):
    %v = arith.addf %a0, %a1 : f32
    linalg.yield %v : f32
  } -> tensor<4x8xf32>
  return %s : tensor<4x8xf32>
}

// -----

// A generic that a micro-kernel computes (library_call) keeps its operands:
// the elementwise producer (x * 2) stays a kernel of its own, and the
// collapse of its result does not move through it.
#id2 = affine_map<(i, j) -> (i, j)>
#row = affine_map<(i, j) -> (i)>
// CHECK-LABEL: func.func @library_call
// CHECK: %[[P:.*]] = linalg.generic {{.*}} ins(%arg0 : tensor<4x8xf32>)
// CHECK: arith.mulf
// CHECK: %[[C:.*]] = linalg.generic {{.*}}library_call = "tailor_q4_matmul"} ins(%[[P]] : tensor<4x8xf32>)
// CHECK: tensor.collapse_shape %[[C]]
func.func @library_call(%x: tensor<4x8xf32>, %y: tensor<4x1xf32>) -> tensor<4xf32> {
  %e = tensor.empty() : tensor<4x8xf32>
  %two = arith.constant 2.0 : f32
  %p = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.mulf %a, %two : f32
    linalg.yield %m : f32
  } -> tensor<4x8xf32>
  %c = linalg.generic {indexing_maps = [#id2, affine_map<(i, j) -> (i, 0)>],
                       iterator_types = ["parallel", "reduction"], library_call = "tailor_q4_matmul"}
      ins(%p : tensor<4x8xf32>) outs(%y : tensor<4x1xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.addf %a, %o : f32
    linalg.yield %s : f32
  } -> tensor<4x1xf32>
  %r = tensor.collapse_shape %c [[0, 1]] : tensor<4x1xf32> into tensor<4xf32>
  return %r : tensor<4xf32>
}

// -----

// A causal mask computed from the indices alone fuses into each of its
// users (it is recomputed there, never stored as i1); a mask read from an
// input keeps the single-user rule.
// CHECK-LABEL: func.func @index_mask
// CHECK-NOT: tensor<4x4xi1>
// CHECK: linalg.index 2
// CHECK: arith.cmpi sle
// CHECK: arith.select
// CHECK: linalg.index 2
// CHECK: arith.cmpi sle
// CHECK: arith.select
// CHECK-LABEL: func.func @input_mask
// CHECK: -> tensor<4x4xi1>
#m2 = affine_map<(d0, d1) -> (d0, d1)>
#bc = affine_map<(d0, d1, d2) -> (d1, d2)>
#m3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
func.func @index_mask(%s: tensor<2x4x4xf32>, %t: tensor<2x4x4xf32>) -> (tensor<2x4x4xf32>, tensor<2x4x4xf32>) {
  %ninf = arith.constant 0xFF800000 : f32
  %e = tensor.empty() : tensor<4x4xi1>
  %mask = linalg.generic {indexing_maps = [#m2], iterator_types = ["parallel", "parallel"]} outs(%e : tensor<4x4xi1>) {
  ^bb0(%o: i1):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %d = arith.subi %j, %i : index
    %z = arith.constant 0 : index
    %c = arith.cmpi sle, %d, %z : index
    linalg.yield %c : i1
  } -> tensor<4x4xi1>
  %o = tensor.empty() : tensor<2x4x4xf32>
  %a = linalg.generic {indexing_maps = [#bc, #m3, #m3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%mask, %s : tensor<4x4xi1>, tensor<2x4x4xf32>) outs(%o : tensor<2x4x4xf32>) {
  ^bb0(%k: i1, %v: f32, %out: f32):
    %r = arith.select %k, %v, %ninf : f32
    linalg.yield %r : f32
  } -> tensor<2x4x4xf32>
  %b = linalg.generic {indexing_maps = [#bc, #m3, #m3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%mask, %t : tensor<4x4xi1>, tensor<2x4x4xf32>) outs(%o : tensor<2x4x4xf32>) {
  ^bb0(%k: i1, %v: f32, %out: f32):
    %r = arith.select %k, %v, %ninf : f32
    linalg.yield %r : f32
  } -> tensor<2x4x4xf32>
  return %a, %b : tensor<2x4x4xf32>, tensor<2x4x4xf32>
}
func.func @input_mask(%x: tensor<4x4xf32>, %s: tensor<2x4x4xf32>, %t: tensor<2x4x4xf32>) -> (tensor<2x4x4xf32>, tensor<2x4x4xf32>) {
  %ninf = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x4xi1>
  %mask = linalg.generic {indexing_maps = [#m2, #m2], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<4x4xf32>) outs(%e : tensor<4x4xi1>) {
  ^bb0(%v: f32, %o: i1):
    %c = arith.cmpf ogt, %v, %zero : f32
    linalg.yield %c : i1
  } -> tensor<4x4xi1>
  %o = tensor.empty() : tensor<2x4x4xf32>
  %a = linalg.generic {indexing_maps = [#bc, #m3, #m3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%mask, %s : tensor<4x4xi1>, tensor<2x4x4xf32>) outs(%o : tensor<2x4x4xf32>) {
  ^bb0(%k: i1, %v: f32, %out: f32):
    %r = arith.select %k, %v, %ninf : f32
    linalg.yield %r : f32
  } -> tensor<2x4x4xf32>
  %b = linalg.generic {indexing_maps = [#bc, #m3, #m3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%mask, %t : tensor<4x4xi1>, tensor<2x4x4xf32>) outs(%o : tensor<2x4x4xf32>) {
  ^bb0(%k: i1, %v: f32, %out: f32):
    %r = arith.select %k, %v, %ninf : f32
    linalg.yield %r : f32
  } -> tensor<2x4x4xf32>
  return %a, %b : tensor<2x4x4xf32>, tensor<2x4x4xf32>
}
