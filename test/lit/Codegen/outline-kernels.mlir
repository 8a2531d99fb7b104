// RUN: tailor-opt %s --tailor-outline-kernels | FileCheck %s

// Two layers with the same shapes share one kernel per distinct op; the
// weights (and a captured tensor) become arguments, a small constant used
// inside a body is cloned into the kernel.
// CHECK-LABEL: func.func private @main_kernel_0
// CHECK-SAME: attributes {tailor.kernel}
// CHECK: linalg.matmul
// CHECK-LABEL: func.func private @main_kernel_1
// CHECK: arith.constant 2.000000e+00
// CHECK: linalg.generic
// CHECK-NOT: func.func private
// CHECK-LABEL: func.func @main
// CHECK-COUNT-2: call @main_kernel_0
// CHECK-NOT: linalg.
func.func @main(%x: tensor<4x8xf32>, %w0: tensor<8x8xf32>, %w1: tensor<8x8xf32>, %o: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %two = arith.constant 2.0 : f32
  %a = linalg.matmul ins(%x, %w0 : tensor<4x8xf32>, tensor<8x8xf32>) outs(%o : tensor<4x8xf32>) -> tensor<4x8xf32>
  %b = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]} ins(%a : tensor<4x8xf32>) outs(%o : tensor<4x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.mulf %in, %two : f32
    linalg.yield %m : f32
  } -> tensor<4x8xf32>
  %c = linalg.matmul ins(%b, %w1 : tensor<4x8xf32>, tensor<8x8xf32>) outs(%o : tensor<4x8xf32>) -> tensor<4x8xf32>
  return %c : tensor<4x8xf32>
}
