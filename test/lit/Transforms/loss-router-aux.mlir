// RUN: tailor-opt %s --tailor-loss="router-aux-coef=0.01 router-top-k=1" --allow-unregistered-dialect | FileCheck %s --check-prefix=AUX
// RUN: not tailor-opt %s --tailor-loss="router-aux-coef=0.01 router-top-k=5" --allow-unregistered-dialect 2>&1 | FileCheck %s --check-prefix=TOPK
// TOPK: error: tailor-loss: router-top-k must be in [1, 4]

// The MoE load-balancing loss over router_logits* results (two layers,
// concatenated), added to the SFT loss with its coefficient.
// AUX-LABEL: func.func @moe
// AUX: %[[ALL:.*]] = "tailor.onnx.Concat"({{.*}}) <{axis = 0 : i64}> : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
// AUX: %[[P:.*]] = "tailor.onnx.Softmax"(%[[ALL]])
// AUX: %[[VALUES:.*]], %[[INDICES:.*]] = "tailor.onnx.TopK"(%[[P]],
// AUX: "tailor.onnx.OneHot"(%[[INDICES]],
// AUX: dense<4.000000e+00> : tensor<f32>
// AUX: dense<0.00999999977> : tensor<f32>
func.func @moe(%ids: tensor<?x?xi64> {onnx.name = "input_ids"}) -> (tensor<?x?x7xf32> {onnx.name = "logits"}, tensor<?x?x4xf32> {onnx.name = "router_logits.0"}, tensor<?x4xf32> {onnx.name = "router_logits.1"}) {
  %l = "test.logits"(%ids) : (tensor<?x?xi64>) -> tensor<?x?x7xf32>
  %r0 = "test.router"(%ids) : (tensor<?x?xi64>) -> tensor<?x?x4xf32>
  %r1 = "test.router2"(%ids) : (tensor<?x?xi64>) -> tensor<?x4xf32>
  return %l, %r0, %r1 : tensor<?x?x7xf32>, tensor<?x?x4xf32>, tensor<?x4xf32>
}
