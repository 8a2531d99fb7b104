// RUN: tailor-opt %s --tailor-peft="method=ia3 target=^(k|mlp.down)$" | FileCheck %s --check-prefix=IA3
// RUN: tailor-opt %s --tailor-peft="method=ia3" | FileCheck %s --check-prefix=IA3DEF
// RUN: tailor-opt %s --tailor-peft="method=adapter bottleneck=2 target=^k$" | FileCheck %s --check-prefix=SERIAL
// RUN: tailor-opt %s --tailor-peft="method=adapter bottleneck=2 placement=parallel activation=gelu scaling=0.5 target=down$" | FileCheck %s --check-prefix=PAR
// RUN: not tailor-opt %s --tailor-peft="method=adapter bottleneck=0" 2>&1 | FileCheck %s --check-prefix=BOTTLENECK
// RUN: not tailor-opt %s --tailor-peft="method=adapter placement=beside" 2>&1 | FileCheck %s --check-prefix=PLACEMENT
// RUN: not tailor-opt %s --tailor-peft="method=adapter activation=swish" 2>&1 | FileCheck %s --check-prefix=ACT
// RUN: not tailor-opt %s --tailor-peft="method=ia3 feedforward=(" 2>&1 | FileCheck %s --check-prefix=REGEX
// RUN: not tailor-opt %s --tailor-peft="method=ia3 target=nothing" 2>&1 | FileCheck %s --check-prefix=NONE

// (IA)3: module "k" (with a bias) scales its output after the bias,
// [out, 1]; "down" is a feed-forward module: its input, [1, in]. Ones at
// the start.
// IA3-LABEL: func.func @main
// IA3-SAME: %arg1: tensor<4x1xf32> {onnx.name = "k.ia3_l", tailor.init = dense<1.000000e+00> : tensor<4x1xf32>, tailor.trainable}
// IA3-SAME: %arg2: tensor<1x4xf32> {onnx.name = "mlp.down.ia3_l", tailor.init = dense<1.000000e+00> : tensor<1x4xf32>, tailor.trainable}
// IA3-SAME: tailor.peft = {feedforward_modules = ["mlp.down"], modules = ["k", "mlp.down"], peft_type = "IA3"}
// IA3: %[[Y:.*]] = "tailor.onnx.MatMul"(%arg0,
// IA3: %[[B:.*]] = "tailor.onnx.Add"(%[[Y]],
// IA3: %[[L:.*]] = "tailor.onnx.Transpose"(%arg1) <{perm = array<i64: 1, 0>}> : (tensor<4x1xf32>) -> tensor<1x4xf32>
// IA3: %[[S:.*]] = "tailor.onnx.Mul"(%[[B]], %[[L]])
// IA3: %[[R:.*]] = "tailor.onnx.Relu"(%[[S]])
// IA3: %[[X:.*]] = "tailor.onnx.Mul"(%[[R]], %arg2) : (tensor<5x4xf32>, tensor<1x4xf32>) -> tensor<5x4xf32>
// IA3: "tailor.onnx.MatMul"(%[[X]],
// The defaults: k (output) and mlp.down (input).
// IA3DEF: modules = ["k", "mlp.down"], peft_type = "IA3"
// Serial adapter after k's output (with its bias): h + relu(h Wd^T + bd) Wu^T + bu.
// SERIAL-LABEL: func.func @main
// SERIAL-SAME: %arg1: tensor<2x4xf32> {onnx.name = "k.adapter.down.weight", tailor.init = "kaiming_uniform", tailor.trainable}
// SERIAL-SAME: %arg2: tensor<2xf32> {onnx.name = "k.adapter.down.bias", tailor.init = "zeros", tailor.trainable}
// SERIAL-SAME: %arg3: tensor<4x2xf32> {onnx.name = "k.adapter.up.weight", tailor.init = "zeros", tailor.trainable}
// SERIAL-SAME: %arg4: tensor<4xf32> {onnx.name = "k.adapter.up.bias", tailor.init = "zeros", tailor.trainable}
// SERIAL-SAME: tailor.peft = {activation = "relu", bottleneck_size = 2 : i64, modules = ["k"], peft_type = "BOTTLENECK", placement = "serial", scaling = 1.000000e+00 : f64}
// SERIAL: %[[H:.*]] = "tailor.onnx.Add"(
// SERIAL: %[[WD:.*]] = "tailor.onnx.Transpose"(%arg1)
// SERIAL: %[[D:.*]] = "tailor.onnx.MatMul"(%[[H]], %[[WD]]) : (tensor<5x4xf32>, tensor<4x2xf32>) -> tensor<5x2xf32>
// SERIAL: %[[DB:.*]] = "tailor.onnx.Add"(%[[D]], %arg2)
// SERIAL: %[[A:.*]] = "tailor.onnx.Relu"(%[[DB]])
// SERIAL: %[[WU:.*]] = "tailor.onnx.Transpose"(%arg3)
// SERIAL: %[[U:.*]] = "tailor.onnx.MatMul"(%[[A]], %[[WU]]) : (tensor<5x2xf32>, tensor<2x4xf32>) -> tensor<5x4xf32>
// SERIAL: %[[UB:.*]] = "tailor.onnx.Add"(%[[U]], %arg4)
// SERIAL: %[[SUM:.*]] = "tailor.onnx.Add"(%[[H]], %[[UB]])
// SERIAL: "tailor.onnx.Relu"(%[[SUM]])
// Parallel adapter at mlp.down: reads its input, scaled by 0.5, GELU.
// PAR-LABEL: func.func @main
// PAR-SAME: %arg1: tensor<2x4xf32> {onnx.name = "mlp.down.adapter.down.weight"
// PAR-SAME: %arg3: tensor<2x2xf32> {onnx.name = "mlp.down.adapter.up.weight"
// PAR: %[[IN:.*]] = "tailor.onnx.Relu"(
// PAR: %[[Y:.*]] = "tailor.onnx.MatMul"(%[[IN]],
// PAR: %[[D:.*]] = "tailor.onnx.MatMul"(%[[IN]], %{{.*}}) : (tensor<5x4xf32>, tensor<4x2xf32>) -> tensor<5x2xf32>
// PAR: %[[DB:.*]] = "tailor.onnx.Add"(%[[D]], %arg2)
// PAR: %[[G:.*]] = tailor.gelu %[[DB]]
// PAR: %[[U:.*]] = "tailor.onnx.MatMul"(%[[G]],
// PAR: %[[UB:.*]] = "tailor.onnx.Add"(%[[U]], %arg4)
// PAR: %[[S:.*]] = "tailor.onnx.Mul"(%[[UB]], %{{.*}})
// PAR: %[[SUM:.*]] = "tailor.onnx.Add"(%[[Y]], %[[S]])
// PAR: return %[[SUM]]
// BOTTLENECK: error: tailor-peft: the adapter's bottleneck must be > 0, not 0
// PLACEMENT: error: tailor-peft: adapter placement must be serial or parallel, not 'beside'
// ACT: error: tailor-peft: adapter activation must be relu, gelu, silu, tanh or none, not 'swish'
// REGEX: error: tailor-peft: bad regex '('
// NONE: error: tailor-peft: no MatMul with a constant weight matches the (IA)3 targets
func.func @main(%x: tensor<5x3xf32>) -> tensor<5x2xf32> {
  %w = "tailor.onnx.Constant"() {value = dense<0.5> : tensor<3x4xf32>} : () -> tensor<3x4xf32> loc("onnx::MatMul_1")
  %bias = "tailor.onnx.Constant"() {value = dense<0.1> : tensor<4xf32>} : () -> tensor<4xf32> loc("k.bias")
  %w2 = "tailor.onnx.Constant"() {value = dense<0.25> : tensor<4x2xf32>} : () -> tensor<4x2xf32> loc("onnx::MatMul_2")
  %y = "tailor.onnx.MatMul"(%x, %w) : (tensor<5x3xf32>, tensor<3x4xf32>) -> tensor<5x4xf32> loc("/k/MatMul")
  %h = "tailor.onnx.Add"(%y, %bias) : (tensor<5x4xf32>, tensor<4xf32>) -> tensor<5x4xf32> loc("/k/Add")
  %r = "tailor.onnx.Relu"(%h) : (tensor<5x4xf32>) -> tensor<5x4xf32>
  %z = "tailor.onnx.MatMul"(%r, %w2) : (tensor<5x4xf32>, tensor<4x2xf32>) -> tensor<5x2xf32> loc("/mlp/down/MatMul")
  return %z : tensor<5x2xf32>
}
