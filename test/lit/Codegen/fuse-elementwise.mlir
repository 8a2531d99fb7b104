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
