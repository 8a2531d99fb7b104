// RUN: tailor-opt %s --tailor-peft="method=prefix virtual-tokens=3" | FileCheck %s --check-prefix=PREFIX

// Prefix tuning: the KV-cache inputs become learned prefixes [1, H, P, D],
// expanded over the batch of input_ids; the past inputs are gone.
// PREFIX-LABEL: func.func @kv
// PREFIX-SAME: (%arg0: tensor<?x4xi64> {onnx.name = "input_ids"}, %arg1: tensor<?x2x4x8xf32>, %arg2: tensor<1x2x3x8xf32> {onnx.name = "prefix.past_key.0", tailor.init = "normal", tailor.trainable}, %arg3: tensor<1x2x3x8xf32> {onnx.name = "prefix.past_value.0", tailor.init = "normal", tailor.trainable})
// PREFIX-SAME: tailor.peft = {num_attention_heads = 2 : i64, num_layers = 1 : i64, num_virtual_tokens = 3 : i64, peft_type = "PREFIX_TUNING", token_dim = 16 : i64}
// PREFIX: %[[SHAPE:.*]] = "tailor.onnx.Shape"(%arg0)
// PREFIX: %[[B:.*]] = "tailor.onnx.Slice"(%[[SHAPE]]
// PREFIX: %[[DIMS:.*]] = "tailor.onnx.Concat"(%[[B]], %{{.*}})
// PREFIX: %[[K:.*]] = "tailor.onnx.Expand"(%arg2, %[[DIMS]]) : (tensor<1x2x3x8xf32>, tensor<4xi64>) -> tensor<?x2x3x8xf32>
// PREFIX: "tailor.onnx.Expand"(%arg3
// PREFIX: "tailor.onnx.Concat"(%[[K]], %{{.*}}) <{axis = 2 : i64}>
func.func @kv(%ids: tensor<?x4xi64> {onnx.name = "input_ids"}, %pk: tensor<?x2x?x8xf32> {onnx.name = "past_key.0"}, %pv: tensor<?x2x?x8xf32> {onnx.name = "past_value.0"}, %k: tensor<?x2x4x8xf32>) -> (tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>) {
  %ck = "tailor.onnx.Concat"(%pk, %k) {axis = 2 : i64} : (tensor<?x2x?x8xf32>, tensor<?x2x4x8xf32>) -> tensor<?x2x?x8xf32>
  %cv = "tailor.onnx.Concat"(%pv, %k) {axis = 2 : i64} : (tensor<?x2x?x8xf32>, tensor<?x2x4x8xf32>) -> tensor<?x2x?x8xf32>
  return %ck, %cv : tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>
}

