// RUN: tailor-opt %s --pass-pipeline="builtin.module(tailor-kv-cache-in-place)" --split-input-file --allow-unregistered-dialect | FileCheck %s

// A decoder step as exported: ids, one layer's past key/value, the new
// positions appended by Concat along axis 2 and returned as the presents.
// The caches become inputs with room for more positions plus a length; the
// Concat becomes an insert at [length, length + S) and the attention reads
// the valid prefix; the past's other user (Shape) sees the first `length`
// positions; the presents return the updated caches.
// CHECK-LABEL: func.func @step
// CHECK-SAME: (%[[IDS:.*]]: tensor<?x?xi64>, %[[K:.*]]: tensor<?x2x?x4xf32> {onnx.name = "past_key.0"}, %[[V:.*]]: tensor<?x2x?x4xf32> {onnx.name = "past_value.0"}, %[[LEN:.*]]: tensor<i64> {onnx.name = "tailor.cache_length"})
// CHECK-SAME: -> (tensor<?x?x4xf32>, tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>)
// CHECK-SAME: attributes {tailor.kv_caches = 2 : i64, tailor.kv_results = 1 : i64}
// CHECK: %[[L64:.*]] = tensor.extract %[[LEN]][] : tensor<i64>
// CHECK: %[[L:.*]] = arith.index_cast %[[L64]] : i64 to index
// CHECK: cf.assert %{{.*}}, "the KV cache length is negative"
// CHECK: %[[S:.*]] = tensor.dim %[[IDS]], %{{.*}}
// CHECK: %[[PAST:.*]] = tensor.extract_slice %[[K]][0, 0, 0, 0] [%{{.*}}, 2, %[[L]], 4] [1, 1, 1, 1]
// CHECK: "tailor.onnx.Shape"(%[[PAST]])
// CHECK: %[[N:.*]] = tensor.dim %[[NEWK:.*]], %{{.*}} : tensor<?x2x?x4xf32>
// CHECK: arith.cmpi eq, %[[N]], %[[S]]
// CHECK: cf.assert %{{.*}}, "KV cache input 1 ('past_key.0') grows by a different count of positions than the token count (is the context longer than the model's position tables?)"
// CHECK: cf.assert %{{.*}}, "KV cache input 1 ('past_key.0') and the new keys/values differ in batch size"
// CHECK: %[[END:.*]] = arith.addi %[[L]], %[[N]] : index
// CHECK: arith.cmpi ule, %[[END]]
// CHECK: cf.assert %{{.*}}, "KV cache input 1 ('past_key.0') is too small for the cache length plus the new positions"
// CHECK: %[[KU:.*]] = tensor.insert_slice %[[NEWK]] into %[[K]][0, 0, %[[L]], 0] [%{{.*}}, 2, %[[N]], 4] [1, 1, 1, 1]
// CHECK: %[[KJ:.*]] = tensor.extract_slice %[[KU]][0, 0, 0, 0] [%{{.*}}, 2, %[[END]], 4] [1, 1, 1, 1]
// CHECK: %[[VU:.*]] = tensor.insert_slice %{{.*}} into %[[V]]
// CHECK: %[[VJ:.*]] = tensor.extract_slice %[[VU]]
// CHECK: tailor.attention %{{.*}}, %[[KJ]], %[[VJ]]
// CHECK-NOT: tailor.onnx.Concat
// CHECK: return %{{.*}}, %[[KU]], %[[VU]]
func.func @step(%ids: tensor<?x?xi64>,
                %pk: tensor<?x2x?x4xf32> {onnx.name = "past_key.0"},
                %pv: tensor<?x2x?x4xf32> {onnx.name = "past_value.0"})
    -> (tensor<?x?x4xf32>, tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>) {
  %shape = "tailor.onnx.Shape"(%pk) : (tensor<?x2x?x4xf32>) -> tensor<4xi64>
  %q = "test.new"(%ids, %shape) : (tensor<?x?xi64>, tensor<4xi64>) -> tensor<?x2x?x4xf32>
  %k = "test.new"(%ids) : (tensor<?x?xi64>) -> tensor<?x2x?x4xf32>
  %v = "test.new"(%ids) : (tensor<?x?xi64>) -> tensor<?x2x?x4xf32>
  %kc = "tailor.onnx.Concat"(%pk, %k) <{axis = 2 : i64}> : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>) -> tensor<?x2x?x4xf32>
  %vc = "tailor.onnx.Concat"(%pv, %v) <{axis = -2 : i64}> : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>) -> tensor<?x2x?x4xf32>
  %a = tailor.attention %q, %kc, %vc : tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32> -> tensor<?x2x?x4xf32>
  %o = "test.out"(%a) : (tensor<?x2x?x4xf32>) -> tensor<?x?x4xf32>
  return %o, %kc, %vc : tensor<?x?x4xf32>, tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>
}

// -----

// Other forms are left alone: an input besides the ids and the caches
// (here an attention mask), ...
// CHECK-LABEL: func.func @extra_input
// CHECK-NOT: tailor.cache_length
// CHECK-NOT: tailor.kv_caches
// CHECK: "tailor.onnx.Concat"
func.func @extra_input(%ids: tensor<?x?xi64>, %pk: tensor<?x2x?x4xf32>,
                       %mask: tensor<?x?xi64>)
    -> (tensor<?x?x4xf32>, tensor<?x2x?x4xf32>, tensor<?x?xi64>) {
  %k = "test.new"(%ids) : (tensor<?x?xi64>) -> tensor<?x2x?x4xf32>
  %kc = "tailor.onnx.Concat"(%pk, %k) <{axis = 2 : i64}> : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>) -> tensor<?x2x?x4xf32>
  %o = "test.out"(%kc) : (tensor<?x2x?x4xf32>) -> tensor<?x?x4xf32>
  return %o, %kc, %mask : tensor<?x?x4xf32>, tensor<?x2x?x4xf32>, tensor<?x?xi64>
}

// -----

// ... a Concat along another axis, ...
// CHECK-LABEL: func.func @other_axis
// CHECK-NOT: tailor.kv_caches
// CHECK: "tailor.onnx.Concat"
func.func @other_axis(%ids: tensor<?x?xi64>, %pk: tensor<?x2x?x4xf32>)
    -> (tensor<?x?x4xf32>, tensor<?x4x?x4xf32>) {
  %k = "test.new"(%ids) : (tensor<?x?xi64>) -> tensor<?x2x?x4xf32>
  %kc = "tailor.onnx.Concat"(%pk, %k) <{axis = 1 : i64}> : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>) -> tensor<?x4x?x4xf32>
  %o = "test.out"(%kc) : (tensor<?x4x?x4xf32>) -> tensor<?x?x4xf32>
  return %o, %kc : tensor<?x?x4xf32>, tensor<?x4x?x4xf32>
}

// -----

// ... a present returned at another position than its past, ...
// CHECK-LABEL: func.func @swapped
// CHECK-NOT: tailor.kv_caches
// CHECK: "tailor.onnx.Concat"
func.func @swapped(%ids: tensor<?x?xi64>, %pk: tensor<?x2x?x4xf32>,
                   %pv: tensor<?x2x?x4xf32>)
    -> (tensor<?x?x4xf32>, tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>) {
  %k = "test.new"(%ids) : (tensor<?x?xi64>) -> tensor<?x2x?x4xf32>
  %kc = "tailor.onnx.Concat"(%pk, %k) <{axis = 2 : i64}> : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>) -> tensor<?x2x?x4xf32>
  %vc = "tailor.onnx.Concat"(%pv, %k) <{axis = 2 : i64}> : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>) -> tensor<?x2x?x4xf32>
  %o = "test.out"(%kc, %vc) : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>) -> tensor<?x?x4xf32>
  return %o, %vc, %kc : tensor<?x?x4xf32>, tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>
}

// -----

// ... a past appended to twice, ...
// CHECK-LABEL: func.func @two_appends
// CHECK-NOT: tailor.kv_caches
func.func @two_appends(%ids: tensor<?x?xi64>, %pk: tensor<?x2x?x4xf32>)
    -> (tensor<?x?x4xf32>, tensor<?x2x?x4xf32>) {
  %k = "test.new"(%ids) : (tensor<?x?xi64>) -> tensor<?x2x?x4xf32>
  %kc = "tailor.onnx.Concat"(%pk, %k) <{axis = 2 : i64}> : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>) -> tensor<?x2x?x4xf32>
  %kd = "tailor.onnx.Concat"(%pk, %k) <{axis = 2 : i64}> : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>) -> tensor<?x2x?x4xf32>
  %o = "test.out"(%kd) : (tensor<?x2x?x4xf32>) -> tensor<?x?x4xf32>
  return %o, %kc : tensor<?x?x4xf32>, tensor<?x2x?x4xf32>
}

// -----

// ... or a cache with a dynamic head count.
// CHECK-LABEL: func.func @dynamic_heads
// CHECK-NOT: tailor.kv_caches
func.func @dynamic_heads(%ids: tensor<?x?xi64>, %pk: tensor<?x?x?x4xf32>)
    -> (tensor<?x?x4xf32>, tensor<?x?x?x4xf32>) {
  %k = "test.new"(%ids) : (tensor<?x?xi64>) -> tensor<?x?x?x4xf32>
  %kc = "tailor.onnx.Concat"(%pk, %k) <{axis = 2 : i64}> : (tensor<?x?x?x4xf32>, tensor<?x?x?x4xf32>) -> tensor<?x?x?x4xf32>
  %o = "test.out"(%kc) : (tensor<?x?x?x4xf32>) -> tensor<?x?x4xf32>
  return %o, %kc : tensor<?x?x4xf32>, tensor<?x?x?x4xf32>
}

// -----

// A fixed batch of 1 and new positions of unknown shape: the head count
// and size are checked at run time, the cast keeps the static batch.
// CHECK-LABEL: func.func @static_batch
// CHECK-SAME: tailor.kv_caches = 1
// CHECK: cf.assert %{{.*}}, "KV cache input 1 ('?') holds fewer positions than the cache length"
// CHECK: cf.assert %{{.*}}, "KV cache input 1 ('?') and the new keys/values differ in head count"
// CHECK: cf.assert %{{.*}}, "KV cache input 1 ('?') and the new keys/values differ in head size"
// CHECK: %[[NEW:.*]] = tensor.cast %{{.*}} : tensor<?x?x?x?xf32> to tensor<1x2x?x4xf32>
// CHECK: tensor.insert_slice %[[NEW]] into %arg1[0, 0, %{{.*}}, 0] [1, 2, %{{.*}}, 4]
func.func @static_batch(%ids: tensor<1x?xi64>, %pk: tensor<1x2x?x4xf32>)
    -> (tensor<1x?x4xf32>, tensor<1x2x?x4xf32>) {
  %k = "test.new"(%ids) : (tensor<1x?xi64>) -> tensor<?x?x?x?xf32>
  %kc = "tailor.onnx.Concat"(%pk, %k) <{axis = 2 : i64}> : (tensor<1x2x?x4xf32>, tensor<?x?x?x?xf32>) -> tensor<1x2x?x4xf32>
  %o = "test.out"(%kc) : (tensor<1x2x?x4xf32>) -> tensor<1x?x4xf32>
  return %o, %kc : tensor<1x?x4xf32>, tensor<1x2x?x4xf32>
}

// -----

// Token ids that are not int64 (the runtime passes int64): left alone.
// CHECK-LABEL: func.func @int32_ids
// CHECK-NOT: tailor.kv_caches
func.func @int32_ids(%ids: tensor<?x?xi32>, %pk: tensor<?x2x?x4xf32>)
    -> (tensor<?x?x4xf32>, tensor<?x2x?x4xf32>) {
  %k = "test.new"(%ids) : (tensor<?x?xi32>) -> tensor<?x2x?x4xf32>
  %kc = "tailor.onnx.Concat"(%pk, %k) <{axis = 2 : i64}> : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>) -> tensor<?x2x?x4xf32>
  %o = "test.out"(%kc) : (tensor<?x2x?x4xf32>) -> tensor<?x?x4xf32>
  return %o, %kc : tensor<?x?x4xf32>, tensor<?x2x?x4xf32>
}
