// RUN: tailor-opt %s --tailor-outline-kernels --split-input-file | FileCheck %s

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

// -----

// An input that is a slice (the valid prefix of a KV cache) is sliced
// inside the kernel: the call passes the whole tensor and the slice's
// dynamic size, so no strided view crosses the call (bufferization would
// copy it to fit the kernel's identity-layout argument). Micro-kernel
// generics (library_call) take their operands as they are.
// CHECK-LABEL: func.func private @slices_kernel_0
// CHECK-SAME: (%[[CACHE:.*]]: tensor<2x?x4xf32>, %[[N:.*]]: index, %[[INIT:.*]]: tensor<2x?x4xf32>)
// CHECK: %[[VIEW:.*]] = tensor.extract_slice %[[CACHE]][0, 0, 0] [2, %[[N]], 4] [1, 1, 1]
// CHECK: linalg.generic {{.*}} ins(%[[VIEW]] : tensor<2x?x4xf32>) outs(%[[INIT]] : tensor<2x?x4xf32>)
// CHECK-LABEL: func.func private @slices_kernel_1
// CHECK-SAME: (%{{.*}}: tensor<2x?x4xf32>, %{{.*}}: tensor<2x?x4xf32>)
// CHECK-NOT: tensor.extract_slice
// CHECK: library_call = "tailor_test"
// CHECK-LABEL: func.func @slices
// CHECK: %[[VIEW2:.*]] = tensor.extract_slice %arg0
// CHECK: %[[A:.*]] = call @slices_kernel_0(%arg0, %arg1, %{{.*}})
// CHECK: call @slices_kernel_1(%[[VIEW2]], %[[A]])
func.func @slices(%cache: tensor<2x?x4xf32>, %n: index) -> tensor<2x?x4xf32> {
  %view = tensor.extract_slice %cache[0, 0, 0] [2, %n, 4] [1, 1, 1] : tensor<2x?x4xf32> to tensor<2x?x4xf32>
  %init = tensor.empty(%n) : tensor<2x?x4xf32>
  %a = linalg.generic {indexing_maps = [affine_map<(i, j, k) -> (i, j, k)>, affine_map<(i, j, k) -> (i, j, k)>], iterator_types = ["parallel", "parallel", "parallel"]} ins(%view : tensor<2x?x4xf32>) outs(%init : tensor<2x?x4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.mulf %in, %in : f32
    linalg.yield %m : f32
  } -> tensor<2x?x4xf32>
  %b = linalg.generic {indexing_maps = [affine_map<(i, j, k) -> (i, j, k)>, affine_map<(i, j, k) -> (i, j, k)>], iterator_types = ["parallel", "parallel", "parallel"], library_call = "tailor_test"} ins(%view : tensor<2x?x4xf32>) outs(%a : tensor<2x?x4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.addf %in, %out : f32
    linalg.yield %m : f32
  } -> tensor<2x?x4xf32>
  return %b : tensor<2x?x4xf32>
}

// -----

// A contraction's output fill moves into the contraction's kernel (the CPU
// strategy starts its accumulators at the fill value); a fill shared by
// several products is cloned for each, one reshaped into column panels is
// re-made on the reshaped init. A non-contraction keeps reading the fill.
// CHECK-LABEL: func.func private @fills_kernel_0
// CHECK-SAME: (%{{.*}}: f32, %{{.*}}: tensor<4x8xf32>)
// CHECK-NEXT: linalg.fill
// CHECK-NEXT: return
// CHECK-LABEL: func.func private @fills_kernel_1
// CHECK: %[[Z:.*]] = arith.constant 0.0
// CHECK: %[[F:.*]] = linalg.fill ins(%[[Z]] : f32) outs(%arg2 : tensor<4x8xf32>)
// CHECK: linalg.matmul {{.*}} outs(%[[F]] : tensor<4x8xf32>)
// CHECK-LABEL: func.func private @fills_kernel_3
// CHECK: %[[P:.*]] = linalg.fill {{.*}} outs(%arg2 : tensor<4x2x4xf32>)
// CHECK: linalg.generic {{.*}} outs(%[[P]] : tensor<4x2x4xf32>)
// CHECK-LABEL: func.func @fills(
// CHECK: %[[E:.*]] = tensor.empty() : tensor<4x8xf32>
// CHECK: %[[FILLED:.*]] = call @fills_kernel_0(%{{.*}}, %[[E]])
// CHECK: %[[A:.*]] = call @fills_kernel_1(%arg0, %arg1, %[[E]])
// CHECK: call @fills_kernel_1(%arg0, %arg2, %[[E]])
// CHECK: call @fills_kernel_2(%[[A]], %[[FILLED]])
// CHECK: %[[V:.*]] = tensor.expand_shape %[[E]]
// CHECK: call @fills_kernel_3(%arg0, %arg3, %[[V]])
func.func @fills(%x: tensor<4x8xf32>, %w0: tensor<8x8xf32>, %w1: tensor<8x8xf32>, %w2: tensor<2x8x4xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x2x4xf32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x8xf32>) -> tensor<4x8xf32>
  %a = linalg.matmul ins(%x, %w0 : tensor<4x8xf32>, tensor<8x8xf32>) outs(%f : tensor<4x8xf32>) -> tensor<4x8xf32>
  %b = linalg.matmul ins(%x, %w1 : tensor<4x8xf32>, tensor<8x8xf32>) outs(%f : tensor<4x8xf32>) -> tensor<4x8xf32>
  %c = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]} ins(%a : tensor<4x8xf32>) outs(%f : tensor<4x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.addf %in, %out : f32
    linalg.yield %m : f32
  } -> tensor<4x8xf32>
  %panels = tensor.expand_shape %f [[0], [1, 2]] output_shape [4, 2, 4] : tensor<4x8xf32> into tensor<4x2x4xf32>
  %d = linalg.generic {indexing_maps = [affine_map<(m, p, k, n) -> (m, k)>, affine_map<(m, p, k, n) -> (p, k, n)>, affine_map<(m, p, k, n) -> (m, p, n)>], iterator_types = ["parallel", "parallel", "reduction", "parallel"]} ins(%x, %w2 : tensor<4x8xf32>, tensor<2x8x4xf32>) outs(%panels : tensor<4x2x4xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %1 = arith.mulf %in, %in_0 : f32
    %2 = arith.addf %out, %1 : f32
    linalg.yield %2 : f32
  } -> tensor<4x2x4xf32>
  return %a, %b, %c, %d : tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x2x4xf32>
}
