// RUN: tailor-opt %s --tailor-peft="method=prompt virtual-tokens=3" | FileCheck %s --check-prefix=PROMPT
// RUN: not tailor-opt %s --tailor-peft="method=prompt virtual-tokens=0" 2>&1 | FileCheck %s --check-prefix=COUNT
// COUNT: error: tailor-peft: virtual-tokens must be > 0, not 0

// Prompt tuning: the first P rows of the token embedding are replaced by
// the learned prompt (expanded over the batch); the rest are the tokens'.
// PROMPT-LABEL: func.func @lm
// PROMPT-SAME: %arg1: tensor<3x4xf32> {onnx.name = "prompt_embeddings", tailor.init = "normal", tailor.trainable}
// PROMPT-SAME: tailor.peft = {num_virtual_tokens = 3 : i64, peft_type = "PROMPT_TUNING", token_dim = 4 : i64}
// PROMPT: %[[E:.*]] = "tailor.onnx.Gather"(%{{.*}}, %arg0)
// PROMPT: %[[U:.*]] = "tailor.onnx.Unsqueeze"(%arg1
// PROMPT: %[[P:.*]] = "tailor.onnx.Expand"(%[[U]], %{{.*}}) : (tensor<1x3x4xf32>, tensor<3xi64>) -> tensor<2x3x4xf32>
// PROMPT: %[[REST:.*]] = "tailor.onnx.Slice"(%[[E]], {{.*}} -> tensor<2x7x4xf32>
// PROMPT: %[[X:.*]] = "tailor.onnx.Concat"(%[[P]], %[[REST]]) <{axis = 1 : i64}> : (tensor<2x3x4xf32>, tensor<2x7x4xf32>) -> tensor<2x10x4xf32>
// PROMPT: "tailor.onnx.Relu"(%[[X]])
func.func @lm(%ids: tensor<2x10xi64> {onnx.name = "input_ids"}) -> tensor<2x10x4xf32> {
  %t = "tailor.onnx.Constant"() {value = dense<0.5> : tensor<6x4xf32>} : () -> tensor<6x4xf32> loc("embed.weight")
  %e = "tailor.onnx.Gather"(%t, %ids) {axis = 0 : i64} : (tensor<6x4xf32>, tensor<2x10xi64>) -> tensor<2x10x4xf32>
  %r = "tailor.onnx.Relu"(%e) : (tensor<2x10x4xf32>) -> tensor<2x10x4xf32>
  return %r : tensor<2x10x4xf32>
}
