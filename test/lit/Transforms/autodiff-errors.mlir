// Errors that name the ONNX node (a NameLoc: reported at the node's name).
// RUN: not tailor-opt %s --tailor-autodiff --split-input-file 2>&1 | FileCheck %s
// RUN: not tailor-opt %s --tailor-autodiff=wrt=nope --split-input-file 2>&1 | FileCheck %s --check-prefix=NAME

// CHECK: error: loc("layer0/Floor"): tailor-autodiff: no gradient rule for 'tailor.onnx.Floor' (node 'layer0/Floor') in this form, on the path from the differentiated arguments to the loss
// NAME: error: tailor-autodiff: no argument named 'nope'
func.func @no_rule(%x: tensor<3xf32> {onnx.name = "x"}) -> tensor<f32> {
  %c = "tailor.onnx.Floor"(%x) : (tensor<3xf32>) -> tensor<3xf32> loc("layer0/Floor")
  %l = "tailor.onnx.ReduceSum"(%c) {keepdims = 0 : i64} : (tensor<3xf32>) -> tensor<f32>
  return %l : tensor<f32>
}

// -----

// An op with regions on the path is refused.
// CHECK: error: tailor-autodiff: 'scf.execute_region' has regions; control flow is not differentiated
func.func @region(%x: tensor<3xf32> {onnx.name = "x"}) -> tensor<f32> {
  %r = scf.execute_region -> tensor<3xf32> {
    %n = "tailor.onnx.Neg"(%x) : (tensor<3xf32>) -> tensor<3xf32>
    scf.yield %n : tensor<3xf32>
  }
  %y = "tailor.onnx.Add"(%r, %x) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  %l = "tailor.onnx.ReduceSum"(%y) {keepdims = 0 : i64} : (tensor<3xf32>) -> tensor<f32>
  return %l : tensor<f32>
}

// -----

// CHECK: error: tailor-autodiff: no floating-point argument to differentiate with respect to
func.func @ints(%x: tensor<3xi64>) -> tensor<f32> {
  %c = "tailor.onnx.Cast"(%x) {to = 1 : i64} : (tensor<3xi64>) -> tensor<3xf32>
  %l = "tailor.onnx.ReduceSum"(%c) {keepdims = 0 : i64} : (tensor<3xf32>) -> tensor<f32>
  return %l : tensor<f32>
}

// -----

// RUN: not tailor-opt %s --tailor-loss=kind=ppo --split-input-file 2>&1 | FileCheck %s --check-prefix=KIND
// KIND: error: tailor-loss: unknown kind 'ppo' (known: sft, dpo, ipo, hinge, robust, simpo, orpo, kto, reward, kd)
// RUN: not tailor-opt %s --tailor-loss="kind=dpo beta=0" --split-input-file 2>&1 | FileCheck %s --check-prefix=BETA
// RUN: not tailor-opt %s --tailor-loss="kind=robust label-smoothing=0.5" --split-input-file 2>&1 | FileCheck %s --check-prefix=BETA
// RUN: not tailor-opt %s --tailor-loss="kind=kd kd-direction=both" --split-input-file 2>&1 | FileCheck %s --check-prefix=BETA
// BETA: error: tailor-loss: beta and temperature must be positive, label-smoothing in [0, 0.5), center-rewards and the KTO weights not negative, kd-direction forward or reverse
// RUN: not tailor-opt %s --tailor-loss=router-aux-coef=0.1 --split-input-file 2>&1 | FileCheck %s --check-prefix=ROUTER
// ROUTER: error: tailor-loss: router-aux-coef needs results named router_logits* (the MoE layers' router logits)
// RUN: not tailor-opt %s --tailor-loss=kind=reward --split-input-file 2>&1 | FileCheck %s --check-prefix=REWARD
// REWARD: error: tailor-loss: kind=reward needs the first result to be the scores [N] or [N, 1]

// -----

// Logits but no router_logits results (the ROUTER run above).
func.func @no_router(%ids: tensor<2x3xi64> {onnx.name = "input_ids"}, %w: tensor<3x5xf32> {onnx.name = "w"}) -> (tensor<2x3x5xf32> {onnx.name = "logits"}) {
  %c = "tailor.onnx.Cast"(%ids) {to = 1 : i64} : (tensor<2x3xi64>) -> tensor<2x3xf32>
  %u = "tailor.onnx.Constant"() {value = dense<[2]> : tensor<1xi64>} : () -> tensor<1xi64>
  %e = "tailor.onnx.Unsqueeze"(%c, %u) : (tensor<2x3xf32>, tensor<1xi64>) -> tensor<2x3x1xf32>
  %l = "tailor.onnx.Mul"(%e, %w) : (tensor<2x3x1xf32>, tensor<3x5xf32>) -> tensor<2x3x5xf32>
  return %l : tensor<2x3x5xf32>
}

// -----

// RUN: not tailor-opt %s --tailor-loss=kind=dpo --split-input-file 2>&1 | FileCheck %s --check-prefix=ODD
// ODD: error: tailor-loss: kind=dpo needs an even number of rows (the first half paired with the second), not 3
func.func @odd(%ids: tensor<3x2xi64> {onnx.name = "input_ids"}, %w: tensor<2x5xf32> {onnx.name = "w"}) -> (tensor<3x2x5xf32> {onnx.name = "logits"}) {
  %c = "tailor.onnx.Cast"(%ids) {to = 1 : i64} : (tensor<3x2xi64>) -> tensor<3x2xf32>
  %u = "tailor.onnx.Constant"() {value = dense<[2]> : tensor<1xi64>} : () -> tensor<1xi64>
  %e = "tailor.onnx.Unsqueeze"(%c, %u) : (tensor<3x2xf32>, tensor<1xi64>) -> tensor<3x2x1xf32>
  %l = "tailor.onnx.Mul"(%e, %w) : (tensor<3x2x1xf32>, tensor<2x5xf32>) -> tensor<3x2x5xf32>
  return %l : tensor<3x2x5xf32>
}
