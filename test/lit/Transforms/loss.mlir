// RUN: tailor-opt %s --tailor-loss --split-input-file --verify-diagnostics --allow-unregistered-dialect | FileCheck %s
// RUN: tailor-opt %s --tailor-loss=ignore-index=-1 --split-input-file --verify-diagnostics --allow-unregistered-dialect | FileCheck %s --check-prefix=IGNORE
// RUN: tailor-opt %s --tailor-loss="kind=dpo beta=0.5 label-smoothing=0.1" --split-input-file --verify-diagnostics --allow-unregistered-dialect | FileCheck %s --check-prefix=DPO
// RUN: tailor-opt %s --tailor-loss="kind=ipo" --split-input-file --verify-diagnostics --allow-unregistered-dialect | FileCheck %s --check-prefix=IPO
// RUN: tailor-opt %s --tailor-loss="kind=hinge" --split-input-file --verify-diagnostics --allow-unregistered-dialect | FileCheck %s --check-prefix=HINGE
// RUN: tailor-opt %s --tailor-loss="kind=robust label-smoothing=0.2" --split-input-file --verify-diagnostics --allow-unregistered-dialect | FileCheck %s --check-prefix=ROBUST
// RUN: tailor-opt %s --tailor-loss="kind=simpo" --split-input-file --verify-diagnostics --allow-unregistered-dialect | FileCheck %s --check-prefix=SIMPO
// RUN: tailor-opt %s --tailor-loss="kind=orpo" --split-input-file --verify-diagnostics --allow-unregistered-dialect | FileCheck %s --check-prefix=ORPO
// RUN: tailor-opt %s --tailor-loss="kind=kto beta=0.2" --split-input-file --verify-diagnostics --allow-unregistered-dialect | FileCheck %s --check-prefix=KTO
// RUN: tailor-opt %s --tailor-loss="kind=kd temperature=2 kd-direction=reverse" --split-input-file --verify-diagnostics --allow-unregistered-dialect | FileCheck %s --check-prefix=KD

// A `labels` input and the loss as the first result; the labels are
// shifted left with an ignored last position, ignored positions masked out.
// CHECK-LABEL: func.func @lm
// CHECK-SAME: %arg1: tensor<?x?xi64> {onnx.name = "labels", tailor.data}
// CHECK-SAME: -> (tensor<f32> {onnx.name = "loss"}, tensor<?x?x7xf32> {onnx.name = "logits"})
// CHECK: %[[REST:.*]] = "tailor.onnx.Slice"(%arg1,
// CHECK: %[[IGN:.*]] = "tailor.onnx.Constant"() <{value = dense<-100> : tensor<i64>}>
// CHECK: %[[SHIFTED:.*]] = "tailor.onnx.Concat"(%[[REST]], %{{.*}}) <{axis = 1 : i64}>
// CHECK: "tailor.onnx.Equal"(%[[SHIFTED]], %[[IGN]])
// CHECK: %[[LOGP:.*]] = "tailor.onnx.LogSoftmax"(%[[LOGITS:.*]]) <{axis = -1 : i64}>
// CHECK: "tailor.onnx.OneHot"
// CHECK: %[[LOSS:.*]] = "tailor.onnx.Neg"
// CHECK: return %[[LOSS]], %[[LOGITS]]
// IGNORE: dense<-1> : tensor<i64>

// The DPO family: a ref_logps input; the rows' log-probabilities paired
// as [chosen; rejected] halves; the rewards after the loss.
// DPO-LABEL: func.func @lm
// DPO-SAME: %arg1: tensor<?x?xi64> {onnx.name = "labels", tailor.data}, %arg2: tensor<?xf32> {onnx.name = "ref_logps", tailor.data}
// DPO-SAME: -> (tensor<f32> {onnx.name = "loss"}, tensor<?xf32> {onnx.name = "chosen_rewards"}, tensor<?xf32> {onnx.name = "rejected_rewards"}, tensor<?xf32> {onnx.name = "logps"}, tensor<?x?x7xf32> {onnx.name = "logits"})
// DPO: %[[RHO:.*]] = "tailor.onnx.Sub"(%{{.*}}, %arg2)
// DPO: "tailor.onnx.Reshape"(%[[RHO]], %{{.*}}) {{.*}} -> tensor<2x?xf32>
// DPO: dense<{{\[}}[1.000000e+00], [0.000000e+00]]> : tensor<2x1xf32>
// DPO: dense<{{\[}}[0.000000e+00], [1.000000e+00]]> : tensor<2x1xf32>
// DPO: dense<5.000000e-01> : tensor<f32>
// DPO: "tailor.onnx.Softplus"
// DPO: dense<0.899999976> : tensor<f32>
// DPO: "tailor.onnx.Softplus"
// DPO: "tailor.onnx.Size"
// DPO: %[[LOSS:.*]] = "tailor.onnx.Div"
// DPO: return %[[LOSS]],
// IPO: onnx.name = "ref_logps"
// IPO: "tailor.onnx.Max"
// IPO: dense<5.000000e+00> : tensor<f32>
// IPO: "tailor.onnx.Mul"(%[[D:.*]], %[[D]])
// IPO-NOT: Softplus
// HINGE: "tailor.onnx.Relu"
// ROBUST: dense<8.000000e-01> : tensor<f32>
// ROBUST: dense<2.000000e-01> : tensor<f32>
// ROBUST: dense<6.000000e-01> : tensor<f32>
// No reference model: SimPO and ORPO use average log-probabilities.
// SIMPO-LABEL: func.func @lm
// SIMPO-NOT: ref_logps
// SIMPO: "tailor.onnx.Max"
// SIMPO: dense<5.000000e+00> : tensor<f32>
// SIMPO: "tailor.onnx.Softplus"
// ORPO-LABEL: func.func @lm
// ORPO-NOT: ref_logps
// ORPO: "tailor.onnx.Exp"
// ORPO: "tailor.onnx.Log"
// ORPO: "tailor.onnx.Softplus"
// KTO's KL estimate over the second half of the rows is clamped at 0 and
// not differentiated.
// KTO-LABEL: func.func @lm
// KTO-SAME: %arg2: tensor<?xf32> {onnx.name = "ref_logps", tailor.data}, %arg3: tensor<?xi1> {onnx.name = "desirable", tailor.data}
// KTO-SAME: -> (tensor<f32> {onnx.name = "loss"}, tensor<?xf32> {onnx.name = "rewards"}, tensor<f32> {onnx.name = "kl"}, tensor<?xf32> {onnx.name = "logps"}
// KTO: %[[MAX:.*]] = "tailor.onnx.Max"(%{{.*}}, %{{.*}}) : (tensor<f32>, tensor<f32>) -> tensor<f32>
// KTO: %[[KL:.*]] = tailor.stop_gradient %[[MAX]] : tensor<f32>
// KTO: "tailor.onnx.Sigmoid"
// KTO: "tailor.onnx.Sigmoid"
// KTO: "tailor.onnx.Where"(%arg3,
// KD-LABEL: func.func @lm
// KD-SAME: %arg2: tensor<?x?x7xf32> {onnx.name = "teacher_logits", tailor.data}
// KD: dense<5.000000e-01> : tensor<f32>
// KD: %[[S:.*]] = "tailor.onnx.LogSoftmax"
// KD: %[[T:.*]] = "tailor.onnx.LogSoftmax"
// KD: "tailor.onnx.Exp"(%[[S]])
// KD: "tailor.onnx.Sub"(%[[S]], %[[T]])
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

// -----

// The reward model's scores [N, 1]: no labels; Bradley-Terry on the
// [chosen; rejected] halves.
// CHECK-LABEL: func.func @scores
// CHECK-SAME: -> (tensor<f32> {onnx.name = "loss"}, tensor<?x?x7xf32> {onnx.name = "logits"})
func.func @scores(%ids: tensor<?x?xi64> {onnx.name = "input_ids"}) -> (tensor<?x?x7xf32> {onnx.name = "logits"}) {
  %l = "test.logits"(%ids) : (tensor<?x?xi64>) -> tensor<?x?x7xf32>
  return %l : tensor<?x?x7xf32>
}
