// RUN: tailor-opt %s -tailor-raise -split-input-file | FileCheck %s

// LLaMA-style grouped-query attention: repeat_kv expands 2 key/value heads to
// 4; the causal mask is Not(Trilu(...)) fed to Where(cond, -inf, scores).
// CHECK-LABEL: func @gqa
// CHECK-SAME: (%[[Q:.*]]: tensor<1x4x?x16xf32>, %[[K:.*]]: tensor<1x2x?x16xf32>, %[[V:.*]]: tensor<1x2x?x16xf32>, %[[KEEP:.*]]: tensor<?x?xi1>)
// CHECK: %[[A:.*]] = tailor.attention %[[Q]], %[[K]], %[[V]] mask(%[[KEEP]]) {scale = 2.500000e-01 : f32} : tensor<1x4x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<?x?xi1> -> tensor<1x4x?x16xf32>
// CHECK-NOT: tailor.onnx.Softmax
// CHECK: return %[[A]]
func.func @gqa(%q: tensor<1x4x?x16xf32>, %k: tensor<1x2x?x16xf32>, %v: tensor<1x2x?x16xf32>, %keep: tensor<?x?xi1>) -> tensor<1x4x?x16xf32> {
  %ax2 = "tailor.onnx.Constant"() {value = dense<2> : tensor<1xi64>} : () -> tensor<1xi64>
  %e5 = "tailor.onnx.Constant"() {value = dense<[1, 2, 2, 1, 16]> : tensor<5xi64>} : () -> tensor<5xi64>
  %r4 = "tailor.onnx.Constant"() {value = dense<[1, 4, -1, 16]> : tensor<4xi64>} : () -> tensor<4xi64>
  %four = "tailor.onnx.Constant"() {value = dense<4.0> : tensor<f32>} : () -> tensor<f32>
  %ninf = "tailor.onnx.Constant"() {value = dense<0xFF800000> : tensor<f32>} : () -> tensor<f32>
  %k5 = "tailor.onnx.Unsqueeze"(%k, %ax2) : (tensor<1x2x?x16xf32>, tensor<1xi64>) -> tensor<1x2x1x?x16xf32>
  %ke = "tailor.onnx.Expand"(%k5, %e5) : (tensor<1x2x1x?x16xf32>, tensor<5xi64>) -> tensor<1x2x2x?x16xf32>
  %kr = "tailor.onnx.Reshape"(%ke, %r4) : (tensor<1x2x2x?x16xf32>, tensor<4xi64>) -> tensor<1x4x?x16xf32>
  %v5 = "tailor.onnx.Unsqueeze"(%v, %ax2) : (tensor<1x2x?x16xf32>, tensor<1xi64>) -> tensor<1x2x1x?x16xf32>
  %ve = "tailor.onnx.Expand"(%v5, %e5) : (tensor<1x2x1x?x16xf32>, tensor<5xi64>) -> tensor<1x2x2x?x16xf32>
  %vr = "tailor.onnx.Reshape"(%ve, %r4) : (tensor<1x2x2x?x16xf32>, tensor<4xi64>) -> tensor<1x4x?x16xf32>
  %kt = "tailor.onnx.Transpose"(%kr) {perm = array<i64: 0, 1, 3, 2>} : (tensor<1x4x?x16xf32>) -> tensor<1x4x16x?xf32>
  %s = "tailor.onnx.MatMul"(%q, %kt) : (tensor<1x4x?x16xf32>, tensor<1x4x16x?xf32>) -> tensor<1x4x?x?xf32>
  %sc = "tailor.onnx.Div"(%s, %four) : (tensor<1x4x?x?xf32>, tensor<f32>) -> tensor<1x4x?x?xf32>
  %drop = "tailor.onnx.Not"(%keep) : (tensor<?x?xi1>) -> tensor<?x?xi1>
  %m = "tailor.onnx.Where"(%drop, %ninf, %sc) : (tensor<?x?xi1>, tensor<f32>, tensor<1x4x?x?xf32>) -> tensor<1x4x?x?xf32>
  %p = "tailor.onnx.Softmax"(%m) {axis = -1 : i64} : (tensor<1x4x?x?xf32>) -> tensor<1x4x?x?xf32>
  %o = "tailor.onnx.MatMul"(%p, %vr) : (tensor<1x4x?x?xf32>, tensor<1x4x?x16xf32>) -> tensor<1x4x?x16xf32>
  return %o : tensor<1x4x?x16xf32>
}

// -----

// GPT-2: Kᵀ straight from the [B, T, H, D] reshape (perm 0,2,3,1), a float
// additive mask, and no scaling (scale 1).
// CHECK-LABEL: func @gpt2
// CHECK: %[[KT:.*]] = "tailor.onnx.Transpose"(%arg1) <{perm = array<i64: 0, 2, 1, 3>}> : (tensor<2x?x4x8xf32>) -> tensor<2x4x?x8xf32>
// CHECK: tailor.attention %arg0, %[[KT]], %arg2 mask(%arg3) {scale = 1.000000e+00 : f32}
func.func @gpt2(%q: tensor<2x4x?x8xf32>, %kr: tensor<2x?x4x8xf32>, %v: tensor<2x4x?x8xf32>, %mask: tensor<?x?xf32>) -> tensor<2x4x?x8xf32> {
  %kt = "tailor.onnx.Transpose"(%kr) {perm = array<i64: 0, 2, 3, 1>} : (tensor<2x?x4x8xf32>) -> tensor<2x4x8x?xf32>
  %s = "tailor.onnx.MatMul"(%q, %kt) : (tensor<2x4x?x8xf32>, tensor<2x4x8x?xf32>) -> tensor<2x4x?x?xf32>
  %m = "tailor.onnx.Add"(%s, %mask) : (tensor<2x4x?x?xf32>, tensor<?x?xf32>) -> tensor<2x4x?x?xf32>
  %p = "tailor.onnx.Softmax"(%m) {axis = 3 : i64} : (tensor<2x4x?x?xf32>) -> tensor<2x4x?x?xf32>
  %o = "tailor.onnx.MatMul"(%p, %v) : (tensor<2x4x?x?xf32>, tensor<2x4x?x8xf32>) -> tensor<2x4x?x8xf32>
  return %o : tensor<2x4x?x8xf32>
}

// -----

// Softmax over the query axis, or scores scaled by a runtime value: no match.
// CHECK-LABEL: func @not_attention
// CHECK-NOT: tailor.attention
func.func @not_attention(%q: tensor<1x4x3x8xf32>, %k: tensor<1x4x3x8xf32>, %v: tensor<1x4x3x8xf32>, %t: tensor<f32>) -> (tensor<1x4x3x8xf32>, tensor<1x4x3x8xf32>) {
  %kt = "tailor.onnx.Transpose"(%k) {perm = array<i64: 0, 1, 3, 2>} : (tensor<1x4x3x8xf32>) -> tensor<1x4x8x3xf32>
  %s = "tailor.onnx.MatMul"(%q, %kt) : (tensor<1x4x3x8xf32>, tensor<1x4x8x3xf32>) -> tensor<1x4x3x3xf32>
  %p = "tailor.onnx.Softmax"(%s) {axis = 2 : i64} : (tensor<1x4x3x3xf32>) -> tensor<1x4x3x3xf32>
  %o = "tailor.onnx.MatMul"(%p, %v) : (tensor<1x4x3x3xf32>, tensor<1x4x3x8xf32>) -> tensor<1x4x3x8xf32>
  %sc = "tailor.onnx.Div"(%s, %t) : (tensor<1x4x3x3xf32>, tensor<f32>) -> tensor<1x4x3x3xf32>
  %p2 = "tailor.onnx.Softmax"(%sc) {axis = -1 : i64} : (tensor<1x4x3x3xf32>) -> tensor<1x4x3x3xf32>
  %o2 = "tailor.onnx.MatMul"(%p2, %v) : (tensor<1x4x3x3xf32>, tensor<1x4x3x8xf32>) -> tensor<1x4x3x8xf32>
  return %o, %o2 : tensor<1x4x3x8xf32>, tensor<1x4x3x8xf32>
}
