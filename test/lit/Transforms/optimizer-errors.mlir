// RUN: not tailor-opt %s --tailor-optimizer --split-input-file 2>&1 | FileCheck %s
// RUN: not tailor-opt %s --tailor-optimizer=kind=lion --split-input-file 2>&1 | FileCheck %s --check-prefix=KIND
// RUN: not tailor-opt %s --tailor-optimizer=beta1=1 --split-input-file 2>&1 | FileCheck %s --check-prefix=BETA
// RUN: not tailor-opt %s --tailor-optimizer="kind=sgd nesterov=1" --split-input-file 2>&1 | FileCheck %s --check-prefix=NESTEROV
// RUN: not tailor-opt %s --tailor-optimizer=accumulate=0 --split-input-file 2>&1 | FileCheck %s --check-prefix=ACC
// RUN: not tailor-opt %s --tailor-optimizer=max-grad-norm=-1 --split-input-file 2>&1 | FileCheck %s --check-prefix=CLIP
// KIND: error: tailor-optimizer: unknown kind 'lion' (known: adamw, sgd)
// BETA: error: tailor-optimizer: beta1 and beta2 must be in [0, 1)
// NESTEROV: error: tailor-optimizer: nesterov needs momentum > 0
// ACC: error: tailor-optimizer: accumulate must be at least 1
// CLIP: error: tailor-optimizer: max-grad-norm must be non-negative (0: no clipping)

// CHECK: error: tailor-optimizer: the entry returns no grad.<name> results (run tailor-autodiff first)
func.func @no_grads(%w: tensor<3xf32> {onnx.name = "w"}) -> (tensor<f32> {onnx.name = "loss"}) {
  %l = "tailor.onnx.ReduceSum"(%w) {keepdims = 0 : i64} : (tensor<3xf32>) -> tensor<f32>
  return %l : tensor<f32>
}

// -----

// CHECK: error: tailor-optimizer: the first result must be the loss (a floating-point tensor of one element)
func.func @no_loss(%w: tensor<3xf32> {onnx.name = "w"}) -> (tensor<3xf32> {onnx.name = "grad.w"}) {
  return %w : tensor<3xf32>
}

// -----

// CHECK: error: tailor-optimizer: result 'grad.v' has no argument 'v' to update
func.func @orphan(%w: tensor<3xf32> {onnx.name = "w"}) -> (tensor<f32> {onnx.name = "loss"}, tensor<3xf32> {onnx.name = "grad.v"}) {
  %l = "tailor.onnx.ReduceSum"(%w) {keepdims = 0 : i64} : (tensor<3xf32>) -> tensor<f32>
  return %l, %w : tensor<f32>, tensor<3xf32>
}

// -----

// CHECK: error: tailor-optimizer: parameter 'w' must be a float32 tensor with a gradient of its type (got 'tensor<3xbf16>' and 'tensor<3xbf16>')
func.func @bf16(%w: tensor<3xbf16> {onnx.name = "w"}) -> (tensor<f32> {onnx.name = "loss"}, tensor<3xbf16> {onnx.name = "grad.w"}) {
  %c = "tailor.onnx.Cast"(%w) {to = 1 : i64} : (tensor<3xbf16>) -> tensor<3xf32>
  %l = "tailor.onnx.ReduceSum"(%c) {keepdims = 0 : i64} : (tensor<3xf32>) -> tensor<f32>
  return %l, %w : tensor<f32>, tensor<3xbf16>
}

// -----

// CHECK: error: tailor-optimizer: the entry already has an argument named 'lr'
func.func @taken(%w: tensor<3xf32> {onnx.name = "w"}, %lr: tensor<f32> {onnx.name = "lr"}) -> (tensor<f32> {onnx.name = "loss"}, tensor<3xf32> {onnx.name = "grad.w"}) {
  %l = "tailor.onnx.ReduceSum"(%w) {keepdims = 0 : i64} : (tensor<3xf32>) -> tensor<f32>
  return %l, %w : tensor<f32>, tensor<3xf32>
}
