// RUN: tailor-opt %s --pass-pipeline="builtin.module(tailor-prune{pattern=heads sparsity=0.5})" --split-input-file | FileCheck %s
// RUN: tailor-opt %s --pass-pipeline="builtin.module(tailor-prune{pattern=heads sparsity=0.2})" --split-input-file | FileCheck %s --check-prefix=NONE
// RUN: tailor-opt %s --pass-pipeline="builtin.module(tailor-prune{pattern=heads sparsity=0.5 exclude=o})" --split-input-file | FileCheck %s --check-prefix=NONE
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-prune{pattern=heads method=wanda calibration=x})" --split-input-file 2>&1 | FileCheck %s --check-prefix=WANDA

// An attention block as exported (2 heads of 2, multi-head): q/k/v linears
// -> Reshape [B, S, H, D] -> Transpose -> rotary (q, k) -> Concat(past, new)
// -> attention -> Transpose -> Reshape -> o. Head 1's weights are small, so
// half the heads removes head 1: q/k/v keep columns 0-1, o rows 0-1 (the
// values 1..4 and 10..13 below), the Reshape shapes say 1 head (and 2
// features), and the past/present cache types lose a head.
// CHECK-LABEL: func.func @block
// CHECK-SAME: %arg1: tensor<1x1x?x2xf32>, %arg2: tensor<1x1x?x2xf32>
// CHECK-SAME: -> (tensor<1x3x4xf32>, tensor<1x1x?x2xf32>, tensor<1x1x?x2xf32>)
// CHECK: %[[WQ:.*]] = "tailor.onnx.Constant"() <{value = dense_resource<tailor_pruned> : tensor<4x2xf32>}>
// CHECK: tailor.linear %arg0, %[[WQ]] : (tensor<1x3x4xf32>, tensor<4x2xf32>) -> tensor<1x3x2xf32>
// CHECK: %[[ONE:.*]] = "tailor.onnx.Constant"() <{value = dense<1> : tensor<1xi64>}>
// CHECK: %[[SHAPE:.*]] = "tailor.onnx.Concat"(%{{.*}}, %{{.*}}, %[[ONE]], %{{.*}})
// CHECK: "tailor.onnx.Reshape"(%{{.*}}, %[[SHAPE]]) {{.*}} -> tensor<1x3x1x2xf32>
// CHECK: tailor.attention {{.*}} : tensor<1x1x3x2xf32>, tensor<1x1x?x2xf32>, tensor<1x1x?x2xf32> -> tensor<1x1x3x2xf32>
// CHECK: "tailor.onnx.Transpose"{{.*}} -> tensor<1x3x1x2xf32>
// CHECK: %[[TWO:.*]] = "tailor.onnx.Constant"() <{value = dense<2> : tensor<1xi64>}>
// CHECK: %[[OSHAPE:.*]] = "tailor.onnx.Concat"(%{{.*}}, %{{.*}}, %[[TWO]])
// CHECK: "tailor.onnx.Reshape"(%{{.*}}, %[[OSHAPE]]) {{.*}} -> tensor<1x3x2xf32>
// CHECK: tailor.linear %{{.*}}, %{{.*}} : (tensor<1x3x2xf32>, tensor<2x4xf32>) -> tensor<1x3x4xf32>
// CHECK: tailor_pruned: "0x040000000000803F0000004000004040000080400000803F000000400000404000008040",
// CHECK: tailor_pruned_3: "0x040000000000803F0000004000004040000080400000804000004040000000400000803F"
// A fraction rounding to no head, or an excluded o projection: unchanged.
// NONE-LABEL: func.func @block
// NONE-SAME: %arg1: tensor<1x2x?x2xf32>
// NONE-NOT: tailor_pruned
// WANDA: error: tailor-prune: method=wanda prunes weights (unstructured or N:M), not heads
func.func @block(%x: tensor<1x3x4xf32>, %pk: tensor<1x2x?x2xf32>, %pv: tensor<1x2x?x2xf32>, %cos: tensor<3x2xf32>, %sin: tensor<3x2xf32>) -> (tensor<1x3x4xf32>, tensor<1x2x?x2xf32>, tensor<1x2x?x2xf32>) {
  %w = "tailor.onnx.Constant"() <{value = dense<[[1.0, 2.0, 0.01, 0.01], [3.0, 4.0, 0.01, 0.01], [1.0, 2.0, 0.01, 0.01], [3.0, 4.0, 0.01, 0.01]]> : tensor<4x4xf32>}> : () -> tensor<4x4xf32>
  %wo = "tailor.onnx.Constant"() <{value = dense<[[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0], [0.01, 0.01, 0.01, 0.01], [0.01, 0.01, 0.01, 0.01]]> : tensor<4x4xf32>}> : () -> tensor<4x4xf32>
  %b = "tailor.onnx.Constant"() <{value = dense<1> : tensor<1xi64>}> : () -> tensor<1xi64>
  %s = "tailor.onnx.Constant"() <{value = dense<3> : tensor<1xi64>}> : () -> tensor<1xi64>
  %h = "tailor.onnx.Constant"() <{value = dense<2> : tensor<1xi64>}> : () -> tensor<1xi64>
  %e = "tailor.onnx.Constant"() <{value = dense<4> : tensor<1xi64>}> : () -> tensor<1xi64>
  %shape = "tailor.onnx.Concat"(%b, %s, %h, %h) <{axis = 0 : i64}> : (tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<4xi64>
  %q0 = tailor.linear %x, %w : (tensor<1x3x4xf32>, tensor<4x4xf32>) -> tensor<1x3x4xf32>
  %q1 = "tailor.onnx.Reshape"(%q0, %shape) <{allowzero = 0 : i64}> : (tensor<1x3x4xf32>, tensor<4xi64>) -> tensor<1x3x2x2xf32>
  %q2 = "tailor.onnx.Transpose"(%q1) <{perm = array<i64: 0, 2, 1, 3>}> : (tensor<1x3x2x2xf32>) -> tensor<1x2x3x2xf32>
  %q = tailor.rotary %q2, %cos, %sin : (tensor<1x2x3x2xf32>, tensor<3x2xf32>, tensor<3x2xf32>) -> tensor<1x2x3x2xf32>
  %k0 = tailor.linear %x, %w : (tensor<1x3x4xf32>, tensor<4x4xf32>) -> tensor<1x3x4xf32>
  %k1 = "tailor.onnx.Reshape"(%k0, %shape) <{allowzero = 0 : i64}> : (tensor<1x3x4xf32>, tensor<4xi64>) -> tensor<1x3x2x2xf32>
  %k2 = "tailor.onnx.Transpose"(%k1) <{perm = array<i64: 0, 2, 1, 3>}> : (tensor<1x3x2x2xf32>) -> tensor<1x2x3x2xf32>
  %k3 = tailor.rotary %k2, %cos, %sin : (tensor<1x2x3x2xf32>, tensor<3x2xf32>, tensor<3x2xf32>) -> tensor<1x2x3x2xf32>
  %k = "tailor.onnx.Concat"(%pk, %k3) <{axis = 2 : i64}> : (tensor<1x2x?x2xf32>, tensor<1x2x3x2xf32>) -> tensor<1x2x?x2xf32>
  %v0 = tailor.linear %x, %w : (tensor<1x3x4xf32>, tensor<4x4xf32>) -> tensor<1x3x4xf32>
  %v1 = "tailor.onnx.Reshape"(%v0, %shape) <{allowzero = 0 : i64}> : (tensor<1x3x4xf32>, tensor<4xi64>) -> tensor<1x3x2x2xf32>
  %v2 = "tailor.onnx.Transpose"(%v1) <{perm = array<i64: 0, 2, 1, 3>}> : (tensor<1x3x2x2xf32>) -> tensor<1x2x3x2xf32>
  %v = "tailor.onnx.Concat"(%pv, %v2) <{axis = 2 : i64}> : (tensor<1x2x?x2xf32>, tensor<1x2x3x2xf32>) -> tensor<1x2x?x2xf32>
  %a = tailor.attention %q, %k, %v : tensor<1x2x3x2xf32>, tensor<1x2x?x2xf32>, tensor<1x2x?x2xf32> -> tensor<1x2x3x2xf32>
  %o0 = "tailor.onnx.Transpose"(%a) <{perm = array<i64: 0, 2, 1, 3>}> : (tensor<1x2x3x2xf32>) -> tensor<1x3x2x2xf32>
  %oshape = "tailor.onnx.Concat"(%b, %s, %e) <{axis = 0 : i64}> : (tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<3xi64>
  %o1 = "tailor.onnx.Reshape"(%o0, %oshape) <{allowzero = 0 : i64}> : (tensor<1x3x2x2xf32>, tensor<3xi64>) -> tensor<1x3x4xf32>
  %y = tailor.linear %o1, %wo : (tensor<1x3x4xf32>, tensor<4x4xf32>) -> tensor<1x3x4xf32> loc("/o/MatMul")
  return %y, %k, %v : tensor<1x3x4xf32>, tensor<1x2x?x2xf32>, tensor<1x2x?x2xf32>
}

// -----

// Grouped-query (4 query heads over 2 key/value heads, G = 2, D = 1), no
// rotary, no cache: group 0 (kv head 0, query heads 0 and 1) scores low and
// goes; Wq keeps columns 2-3, Wk and Wv column 1, Wo rows 2-3.
// CHECK-LABEL: func.func @gqa
// CHECK: tailor.attention {{.*}} : tensor<1x2x3x1xf32>, tensor<1x1x3x1xf32>, tensor<1x1x3x1xf32>{{.*}} -> tensor<1x2x3x1xf32>
// CHECK: tailor.linear %{{.*}}, %{{.*}} : (tensor<1x3x2xf32>, tensor<2x2xf32>) -> tensor<1x3x2xf32>
// CHECK: tailor_pruned{{.*}}: "0x0400000000004040000080400000A0400000C040"
// CHECK: tailor_pruned{{.*}}: "0x040000000000E04000000041"
// CHECK: tailor_pruned{{.*}}: "0x040000000000104100002041"
// CHECK: tailor_pruned{{.*}}: "0x0400000000003041000040410000504100006041"
func.func @gqa(%x: tensor<1x3x2xf32>, %m: tensor<3x3xi1>) -> tensor<1x3x2xf32> {
  %wq = "tailor.onnx.Constant"() <{value = dense<[[0.1, 0.2, 3.0, 4.0], [0.3, 0.4, 5.0, 6.0]]> : tensor<2x4xf32>}> : () -> tensor<2x4xf32>
  %wk = "tailor.onnx.Constant"() <{value = dense<[[0.1, 7.0], [0.2, 8.0]]> : tensor<2x2xf32>}> : () -> tensor<2x2xf32>
  %wv = "tailor.onnx.Constant"() <{value = dense<[[0.3, 9.0], [0.4, 10.0]]> : tensor<2x2xf32>}> : () -> tensor<2x2xf32>
  %wo = "tailor.onnx.Constant"() <{value = dense<[[0.1, 0.2], [0.3, 0.4], [11.0, 12.0], [13.0, 14.0]]> : tensor<4x2xf32>}> : () -> tensor<4x2xf32>
  %b = "tailor.onnx.Constant"() <{value = dense<1> : tensor<1xi64>}> : () -> tensor<1xi64>
  %s = "tailor.onnx.Constant"() <{value = dense<3> : tensor<1xi64>}> : () -> tensor<1xi64>
  %hq = "tailor.onnx.Constant"() <{value = dense<4> : tensor<1xi64>}> : () -> tensor<1xi64>
  %hkv = "tailor.onnx.Constant"() <{value = dense<2> : tensor<1xi64>}> : () -> tensor<1xi64>
  %d = "tailor.onnx.Constant"() <{value = dense<1> : tensor<1xi64>}> : () -> tensor<1xi64>
  %qs = "tailor.onnx.Concat"(%b, %s, %hq, %d) <{axis = 0 : i64}> : (tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<4xi64>
  %ks = "tailor.onnx.Concat"(%b, %s, %hkv, %d) <{axis = 0 : i64}> : (tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<4xi64>
  %q0 = tailor.linear %x, %wq : (tensor<1x3x2xf32>, tensor<2x4xf32>) -> tensor<1x3x4xf32>
  %q1 = "tailor.onnx.Reshape"(%q0, %qs) <{allowzero = 0 : i64}> : (tensor<1x3x4xf32>, tensor<4xi64>) -> tensor<1x3x4x1xf32>
  %q = "tailor.onnx.Transpose"(%q1) <{perm = array<i64: 0, 2, 1, 3>}> : (tensor<1x3x4x1xf32>) -> tensor<1x4x3x1xf32>
  %k0 = tailor.linear %x, %wk : (tensor<1x3x2xf32>, tensor<2x2xf32>) -> tensor<1x3x2xf32>
  %k1 = "tailor.onnx.Reshape"(%k0, %ks) <{allowzero = 0 : i64}> : (tensor<1x3x2xf32>, tensor<4xi64>) -> tensor<1x3x2x1xf32>
  %k = "tailor.onnx.Transpose"(%k1) <{perm = array<i64: 0, 2, 1, 3>}> : (tensor<1x3x2x1xf32>) -> tensor<1x2x3x1xf32>
  %v0 = tailor.linear %x, %wv : (tensor<1x3x2xf32>, tensor<2x2xf32>) -> tensor<1x3x2xf32>
  %v1 = "tailor.onnx.Reshape"(%v0, %ks) <{allowzero = 0 : i64}> : (tensor<1x3x2xf32>, tensor<4xi64>) -> tensor<1x3x2x1xf32>
  %v = "tailor.onnx.Transpose"(%v1) <{perm = array<i64: 0, 2, 1, 3>}> : (tensor<1x3x2x1xf32>) -> tensor<1x2x3x1xf32>
  %a = tailor.attention %q, %k, %v mask(%m) : tensor<1x4x3x1xf32>, tensor<1x2x3x1xf32>, tensor<1x2x3x1xf32>, tensor<3x3xi1> -> tensor<1x4x3x1xf32>
  %o0 = "tailor.onnx.Transpose"(%a) <{perm = array<i64: 0, 2, 1, 3>}> : (tensor<1x4x3x1xf32>) -> tensor<1x3x4x1xf32>
  %os = "tailor.onnx.Concat"(%b, %s, %hq) <{axis = 0 : i64}> : (tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<3xi64>
  %o1 = "tailor.onnx.Reshape"(%o0, %os) <{allowzero = 0 : i64}> : (tensor<1x3x4x1xf32>, tensor<3xi64>) -> tensor<1x3x4xf32>
  %y = tailor.linear %o1, %wo : (tensor<1x3x4xf32>, tensor<4x2xf32>) -> tensor<1x3x2xf32> loc("/o/MatMul")
  return %y : tensor<1x3x2xf32>
}

// -----

// The past cache also feeds another op (not a Shape): left alone.
// CHECK-LABEL: func.func @shared_past
// CHECK-SAME: tensor<1x2x?x2xf32>
// NONE-LABEL: func.func @shared_past
func.func @shared_past(%x: tensor<1x3x4xf32>, %pk: tensor<1x2x?x2xf32>, %pv: tensor<1x2x?x2xf32>) -> (tensor<1x3x4xf32>, tensor<1x2x?x2xf32>) {
  %w = "tailor.onnx.Constant"() <{value = dense<[[1.0, 2.0, 0.01, 0.01], [3.0, 4.0, 0.01, 0.01], [1.0, 2.0, 0.01, 0.01], [3.0, 4.0, 0.01, 0.01]]> : tensor<4x4xf32>}> : () -> tensor<4x4xf32>
  %b = "tailor.onnx.Constant"() <{value = dense<1> : tensor<1xi64>}> : () -> tensor<1xi64>
  %s = "tailor.onnx.Constant"() <{value = dense<3> : tensor<1xi64>}> : () -> tensor<1xi64>
  %h = "tailor.onnx.Constant"() <{value = dense<2> : tensor<1xi64>}> : () -> tensor<1xi64>
  %e = "tailor.onnx.Constant"() <{value = dense<4> : tensor<1xi64>}> : () -> tensor<1xi64>
  %shape = "tailor.onnx.Concat"(%b, %s, %h, %h) <{axis = 0 : i64}> : (tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<4xi64>
  %q0 = tailor.linear %x, %w : (tensor<1x3x4xf32>, tensor<4x4xf32>) -> tensor<1x3x4xf32>
  %q1 = "tailor.onnx.Reshape"(%q0, %shape) <{allowzero = 0 : i64}> : (tensor<1x3x4xf32>, tensor<4xi64>) -> tensor<1x3x2x2xf32>
  %q = "tailor.onnx.Transpose"(%q1) <{perm = array<i64: 0, 2, 1, 3>}> : (tensor<1x3x2x2xf32>) -> tensor<1x2x3x2xf32>
  %k0 = tailor.linear %x, %w : (tensor<1x3x4xf32>, tensor<4x4xf32>) -> tensor<1x3x4xf32>
  %k1 = "tailor.onnx.Reshape"(%k0, %shape) <{allowzero = 0 : i64}> : (tensor<1x3x4xf32>, tensor<4xi64>) -> tensor<1x3x2x2xf32>
  %k2 = "tailor.onnx.Transpose"(%k1) <{perm = array<i64: 0, 2, 1, 3>}> : (tensor<1x3x2x2xf32>) -> tensor<1x2x3x2xf32>
  %k = "tailor.onnx.Concat"(%pk, %k2) <{axis = 2 : i64}> : (tensor<1x2x?x2xf32>, tensor<1x2x3x2xf32>) -> tensor<1x2x?x2xf32>
  %v0 = tailor.linear %x, %w : (tensor<1x3x4xf32>, tensor<4x4xf32>) -> tensor<1x3x4xf32>
  %v1 = "tailor.onnx.Reshape"(%v0, %shape) <{allowzero = 0 : i64}> : (tensor<1x3x4xf32>, tensor<4xi64>) -> tensor<1x3x2x2xf32>
  %v2 = "tailor.onnx.Transpose"(%v1) <{perm = array<i64: 0, 2, 1, 3>}> : (tensor<1x3x2x2xf32>) -> tensor<1x2x3x2xf32>
  %v = "tailor.onnx.Concat"(%pv, %v2) <{axis = 2 : i64}> : (tensor<1x2x?x2xf32>, tensor<1x2x3x2xf32>) -> tensor<1x2x?x2xf32>
  %a = tailor.attention %q, %k, %v : tensor<1x2x3x2xf32>, tensor<1x2x?x2xf32>, tensor<1x2x?x2xf32> -> tensor<1x2x3x2xf32>
  %o0 = "tailor.onnx.Transpose"(%a) <{perm = array<i64: 0, 2, 1, 3>}> : (tensor<1x2x3x2xf32>) -> tensor<1x3x2x2xf32>
  %oshape = "tailor.onnx.Concat"(%b, %s, %e) <{axis = 0 : i64}> : (tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<3xi64>
  %o1 = "tailor.onnx.Reshape"(%o0, %oshape) <{allowzero = 0 : i64}> : (tensor<1x3x2x2xf32>, tensor<3xi64>) -> tensor<1x3x4xf32>
  %y = tailor.linear %o1, %w : (tensor<1x3x4xf32>, tensor<4x4xf32>) -> tensor<1x3x4xf32>
  %n = "tailor.onnx.Neg"(%pk) : (tensor<1x2x?x2xf32>) -> tensor<1x2x?x2xf32>
  return %y, %n : tensor<1x3x4xf32>, tensor<1x2x?x2xf32>
}
