// RUN: tailor-opt %s --tailor-loss --allow-unregistered-dialect --split-input-file --verify-diagnostics | FileCheck %s

// A PEFT method's regulariser (a result named aux_loss.*, AdaLoRA's
// orthogonality) is added to the loss; the result stays.
// CHECK-LABEL: func.func @regularised
// CHECK: %[[CE:.*]] = "tailor.onnx.Neg"
// CHECK: %[[TOTAL:.*]] = "tailor.onnx.Add"(%[[CE]], %[[R:.*]]) : (tensor<f32>, tensor<f32>) -> tensor<f32>
// CHECK: return %[[TOTAL]], %{{.*}}, %[[R]] :
func.func @regularised(%ids: tensor<?x?xi64> {onnx.name = "input_ids"}) -> (tensor<?x?x7xf32> {onnx.name = "logits"}, tensor<f32> {onnx.name = "aux_loss.test"}) {
  %l = "test.logits"(%ids) : (tensor<?x?xi64>) -> tensor<?x?x7xf32>
  %r = "test.reg"(%ids) : (tensor<?x?xi64>) -> tensor<f32>
  return %l, %r : tensor<?x?x7xf32>, tensor<f32>
}

// -----

// expected-error @+1 {{tailor-loss: result 'aux_loss.bad' is not a floating-point scalar}}
func.func @bad_regulariser(%ids: tensor<?x?xi64> {onnx.name = "input_ids"}) -> (tensor<?x?x7xf32> {onnx.name = "logits"}, tensor<2xf32> {onnx.name = "aux_loss.bad"}) {
  %l = "test.logits"(%ids) : (tensor<?x?xi64>) -> tensor<?x?x7xf32>
  %r = "test.reg"(%ids) : (tensor<?x?xi64>) -> tensor<2xf32>
  return %l, %r : tensor<?x?x7xf32>, tensor<2xf32>
}
