// RUN: tailor-opt %s --tailor-loss --split-input-file --verify-diagnostics --allow-unregistered-dialect | FileCheck %s
// RUN: tailor-opt %s --tailor-loss=ignore-index=-1 --split-input-file --verify-diagnostics --allow-unregistered-dialect | FileCheck %s --check-prefix=IGNORE

// A `labels` input and the loss as the first result; the labels are
// shifted left with an ignored last position, ignored positions masked out.
// CHECK-LABEL: func.func @lm
// CHECK-SAME: %arg1: tensor<?x?xi64> {onnx.name = "labels"}
// CHECK-SAME: -> (tensor<f32> {onnx.name = "loss"}, tensor<?x?x7xf32> {onnx.name = "logits"})
// CHECK: %[[LOGP:.*]] = "tailor.onnx.LogSoftmax"(%[[LOGITS:.*]]) <{axis = -1 : i64}>
// CHECK: %[[REST:.*]] = "tailor.onnx.Slice"(%arg1,
// CHECK: %[[IGN:.*]] = "tailor.onnx.Constant"() <{value = dense<-100> : tensor<i64>}>
// CHECK: %[[SHIFTED:.*]] = "tailor.onnx.Concat"(%[[REST]], %{{.*}}) <{axis = 1 : i64}>
// CHECK: "tailor.onnx.Equal"(%[[SHIFTED]], %[[IGN]])
// CHECK: "tailor.onnx.OneHot"
// CHECK: %[[LOSS:.*]] = "tailor.onnx.Neg"
// CHECK: return %[[LOSS]], %[[LOGITS]]
// IGNORE: dense<-1> : tensor<i64>
func.func @lm(%ids: tensor<?x?xi64> {onnx.name = "input_ids"}) -> (tensor<?x?x7xf32> {onnx.name = "logits"}) {
  %l = "test.logits"(%ids) : (tensor<?x?xi64>) -> tensor<?x?x7xf32>
  return %l : tensor<?x?x7xf32>
}

// -----

// expected-error @+1 {{tailor-loss: the first result must be the logits [batch, sequence, vocabulary] with a static vocabulary}}
func.func @not_logits(%ids: tensor<?x?xi64>) -> tensor<?x?x?xf32> {
  %l = "test.logits"(%ids) : (tensor<?x?xi64>) -> tensor<?x?x?xf32>
  return %l : tensor<?x?x?xf32>
}
