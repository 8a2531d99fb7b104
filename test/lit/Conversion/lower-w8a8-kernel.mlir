// RUN: tailor-opt %s --tailor-lower-to-linalg --split-input-file | FileCheck %s

// W8A8 (activation_quant = "int8_per_token") with a constant i8 weight,
// K a multiple of 4, N a multiple of 16, no zero points: the activations
// are quantized per row to i8, and the product is one generic that the
// micro-kernel tailor_q8_matmul computes, over the weight packed here in
// tiles of 16 columns, rows in quads, each byte u = w + 128. Row k of W
// holds k + 1 in every column: quad (q, c) = rows 0..3 = 0x81 .. 0x84.
// CHECK-LABEL: func.func @w8a8
// CHECK-DAG: %[[WP:.*]] = arith.constant dense_resource<[[WPB:tailor_w8a8[_0-9]*]]> : tensor<1x1x16x4xi8>
// CHECK-DAG: %[[WS:.*]] = arith.constant dense<{{\[\[}}5.000000e-01, 2.500000e-01, {{.*}}]]> : tensor<1x16xf32>
// 1. a[r] = max |x| over the row, xs = a / 127, xq = round(x * 127 / a).
// CHECK: %[[A:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]
// CHECK: math.absf
// CHECK: %[[S:.*]]:2 = linalg.generic {{.*}} ins(%[[A]] : tensor<?x1xf32>)
// CHECK: %[[XQ:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<?x1x4xi8>)
// CHECK: math.roundeven
// CHECK: arith.fptosi {{.*}} : f32 to i8
// CHECK: %[[X3:.*]] = tensor.expand_shape %{{.*}} {{\[\[}}0], [1, 2]] output_shape [%{{.*}}, 1, 4] : tensor<?x4xi8> into tensor<?x1x4xi8>
// 2. loops (r, t, c, q, i): y[r, t, c] += xs[r] * ws[t, c] * xq * (u - 128).
// CHECK: %[[Y:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction"], library_call = "tailor_q8_matmul"} ins(%[[X3]], %[[S]]#0, %[[WP]], %[[WS]] : tensor<?x1x4xi8>, tensor<?x1xf32>, tensor<1x1x16x4xi8>, tensor<1x16xf32>) outs(%{{.*}} : tensor<?x1x16xf32>)
// CHECK: arith.extui {{.*}} : i8 to i32
// CHECK: arith.subi
// CHECK: arith.sitofp {{.*}} : i8 to f32
// CHECK: arith.sitofp {{.*}} : i32 to f32
// CHECK: tensor.collapse_shape %[[Y]] {{\[\[}}0], [1, 2]] : tensor<?x1x16xf32> into tensor<?x16xf32>
// The bias is added after the product.
// CHECK: arith.addf
// CHECK: [[WPB]]: "0x4000000081828384818283848182838481828384818283848182838481828384818283848182838481828384818283848182838481828384818283848182838481828384"
func.func @w8a8(%x: tensor<?x4xf32>, %b: tensor<16xf32>) -> tensor<?x16xf32> {
  %q = arith.constant dense<[[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
                             [2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2],
                             [3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3],
                             [4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4]]> : tensor<4x16xi8>
  %w = quant.scast %q : tensor<4x16xi8> to tensor<4x16x!quant.uniform<i8<-127:127>:f32:1, {0.5, 0.25, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5}>>
  %0 = tailor.linear %x, %w, %b {activation_quant = "int8_per_token"} : (tensor<?x4xf32>, tensor<4x16x!quant.uniform<i8<-127:127>:f32:1, {0.5, 0.25, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5}>>, tensor<16xf32>) -> tensor<?x16xf32>
  return %0 : tensor<?x16xf32>
}

// -----

// N not a multiple of 16 (and a 3-D input): no kernel. The activations are
// rounded to the same per-row int8 grid in f32 (xs * xq), then the
// weight-only product; the leading dims are restored.
// CHECK-LABEL: func.func @fallback
// CHECK-NOT: library_call
// CHECK: tensor.collapse_shape %{{.*}} {{\[\[}}0, 1], [2]] : tensor<2x?x4xf32> into tensor<?x4xf32>
// CHECK: arith.fptosi {{.*}} : f32 to i32
// CHECK: arith.sitofp {{.*}} : i32 to f32
// CHECK: tensor.expand_shape %{{.*}} {{\[\[}}0, 1], [2]] output_shape [2, %{{.*}}, 4] : tensor<?x4xf32> into tensor<2x?x4xf32>
// CHECK: linalg.generic
// CHECK-NOT: library_call
// CHECK: return
func.func @fallback(%x: tensor<2x?x4xf32>) -> tensor<2x?x2xf32> {
  %q = arith.constant dense<[[1, 2], [3, 4], [5, 6], [7, 8]]> : tensor<4x2xi8>
  %w = quant.scast %q : tensor<4x2xi8> to tensor<4x2x!quant.uniform<i8<-127:127>:f32:1, {0.5, 0.25}>>
  %0 = tailor.linear %x, %w {activation_quant = "int8_per_token"} : (tensor<2x?x4xf32>, tensor<4x2x!quant.uniform<i8<-127:127>:f32:1, {0.5, 0.25}>>) -> tensor<2x?x2xf32>
  return %0 : tensor<2x?x2xf32>
}

// -----

// f16 activations (the kernel is f32-only): the rounding is done in f16.
// CHECK-LABEL: func.func @f16
// CHECK-NOT: library_call
// CHECK: arith.fptosi {{.*}} : f16 to i32
// CHECK: arith.sitofp {{.*}} : i32 to f16
// CHECK: return
func.func @f16(%x: tensor<?x4xf16>) -> tensor<?x8xf16> {
  %q = arith.constant dense<1> : tensor<4x8xi8>
  %w = quant.scast %q : tensor<4x8xi8> to tensor<4x8x!quant.uniform<i8<-127:127>:f16:1, {0.5, 0.25, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5}>>
  %0 = tailor.linear %x, %w {activation_quant = "int8_per_token"} : (tensor<?x4xf16>, tensor<4x8x!quant.uniform<i8<-127:127>:f16:1, {0.5, 0.25, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5}>>) -> tensor<?x8xf16>
  return %0 : tensor<?x8xf16>
}
