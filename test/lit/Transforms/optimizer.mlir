// RUN: tailor-opt %s --tailor-optimizer="max-grad-norm=1 weight-decay=0.1" --split-input-file | FileCheck %s --check-prefix=ADAMW
// RUN: tailor-opt %s --tailor-optimizer="kind=sgd momentum=0.9 nesterov=1" --split-input-file | FileCheck %s --check-prefix=SGD
// RUN: tailor-opt %s --tailor-optimizer="kind=sgd" --split-input-file | FileCheck %s --check-prefix=PLAIN
// RUN: tailor-opt %s --tailor-optimizer="accumulate=4" --split-input-file | FileCheck %s --check-prefix=ACC
// RUN: tailor-opt %s --tailor-optimizer="max-grad-norm=1 return-grads=^w$" --split-input-file | FileCheck %s --check-prefix=GRADS
// RUN: not tailor-opt %s --tailor-optimizer="return-grads=(" --split-input-file 2>&1 | FileCheck %s --check-prefix=BADRE

// The step: lr, step and the state are new inputs; loss, grad_norm, the
// parameter and the state are the results; the other input stays.
// ADAMW-LABEL: func.func @step(
// ADAMW-SAME: %[[W:[a-z0-9]+]]: tensor<2x3xf32> {onnx.name = "w"}, %{{.*}}: tensor<3xf32> {onnx.name = "x"}, %[[LR:[a-z0-9]+]]: tensor<f32> {onnx.name = "lr"}, %[[STEP:[a-z0-9]+]]: tensor<f32> {onnx.name = "step"}, %[[M:[a-z0-9]+]]: tensor<2x3xf32> {onnx.name = "exp_avg.w"}, %[[V:[a-z0-9]+]]: tensor<2x3xf32> {onnx.name = "exp_avg_sq.w"})
// ADAMW-SAME: -> (tensor<f32> {onnx.name = "loss"}, tensor<f32> {onnx.name = "grad_norm"}, tensor<2x3xf32> {onnx.name = "w"}, tensor<2x3xf32> {onnx.name = "exp_avg.w"}, tensor<2x3xf32> {onnx.name = "exp_avg_sq.w"})
// ADAMW: %[[G:.*]] = "tailor.onnx.Mul"(%[[W]]
// The global norm and clip_grad_norm_'s coefficient.
// ADAMW: %[[SQ:.*]] = "tailor.onnx.ReduceSumSquare"(%[[G]])
// ADAMW: %[[NORM:.*]] = "tailor.onnx.Sqrt"(%[[SQ]])
// ADAMW: %[[COEF:.*]] = "tailor.onnx.Min"
// ADAMW: %[[CG:.*]] = "tailor.onnx.Mul"(%[[G]], %[[COEF]])
// Bias correction from the step number.
// ADAMW: "tailor.onnx.Pow"({{.*}}, %[[STEP]])
// ADAMW: "tailor.onnx.Pow"({{.*}}, %[[STEP]])
// Decoupled weight decay: w * (1 - lr * wd).
// ADAMW: %[[DECAY:.*]] = "tailor.onnx.Mul"(%[[LR]]
// ADAMW: %[[ONE_M:.*]] = "tailor.onnx.Sub"({{.*}}, %[[DECAY]])
// ADAMW: %[[WD:.*]] = "tailor.onnx.Mul"(%[[W]], %[[ONE_M]])
// ADAMW: "tailor.onnx.Sub"(%[[CG]], %[[M]])
// ADAMW: %[[NEWM:.*]] = "tailor.onnx.Add"(%[[M]]
// ADAMW: "tailor.onnx.Mul"(%[[V]]
// ADAMW: %[[NEWV:.*]] = "tailor.onnx.Add"
// ADAMW: %[[NEWW:.*]] = "tailor.onnx.Sub"(%[[WD]]
// ADAMW: return %{{.*}}, %[[NORM]], %[[NEWW]], %[[NEWM]], %[[NEWV]]

// SGD-LABEL: func.func @step(
// SGD-SAME: %[[W:[a-z0-9]+]]: tensor<2x3xf32> {onnx.name = "w"}, %{{.*}}: tensor<3xf32> {onnx.name = "x"}, %[[LR:[a-z0-9]+]]: tensor<f32> {onnx.name = "lr"}, %{{.*}}: tensor<f32> {onnx.name = "step"}, %[[BUF:[a-z0-9]+]]: tensor<2x3xf32> {onnx.name = "momentum_buffer.w"})
// SGD-NOT: Min
// SGD: %[[G:.*]] = "tailor.onnx.Mul"(%[[W]]
// SGD: %[[MB:.*]] = "tailor.onnx.Mul"(%[[BUF]]
// SGD: %[[NB:.*]] = "tailor.onnx.Add"(%[[MB]], %[[G]])
// Nesterov: d = g + momentum * buf'.
// SGD: %[[NM:.*]] = "tailor.onnx.Mul"(%[[NB]]
// SGD: %[[D:.*]] = "tailor.onnx.Add"(%[[G]], %[[NM]])
// SGD: %[[U:.*]] = "tailor.onnx.Mul"(%[[D]], %[[LR]])
// SGD: %[[NEWW:.*]] = "tailor.onnx.Sub"(%[[W]], %[[U]])
// SGD: return %{{.*}}, %{{.*}}, %[[NEWW]], %[[NB]]

// PLAIN-LABEL: func.func @step(
// PLAIN-SAME: {onnx.name = "step"})
// PLAIN-SAME: -> (tensor<f32> {onnx.name = "loss"}, tensor<f32> {onnx.name = "grad_norm"}, tensor<2x3xf32> {onnx.name = "w"})

// Accumulation: apply_update selects; grad_acc collects the sum.
// ACC-LABEL: func.func @step(
// ACC-SAME: %[[APPLY:[a-z0-9]+]]: tensor<i1> {onnx.name = "apply_update"}, %{{.*}}: tensor<2x3xf32> {onnx.name = "exp_avg.w"}, %{{.*}}: tensor<2x3xf32> {onnx.name = "exp_avg_sq.w"}, %[[ACC:[a-z0-9]+]]: tensor<2x3xf32> {onnx.name = "grad_acc.w"})
// ACC: %[[SUM:.*]] = "tailor.onnx.Add"(%[[ACC]]
// ACC: "tailor.onnx.Mul"(%[[SUM]]
// ACC: "tailor.onnx.Where"(%[[APPLY]]
// ACC: "tailor.onnx.Where"(%[[APPLY]]
// ACC: "tailor.onnx.Where"(%[[APPLY]]
// ACC: %[[RESET:.*]] = "tailor.onnx.Where"(%[[APPLY]], %{{.*}}, %[[SUM]])
// ACC: return {{.*}}, %[[RESET]] :
// return-grads: the clipped gradient the update used, after the state.
// GRADS-LABEL: func.func @step(
// GRADS-SAME: -> (tensor<f32> {onnx.name = "loss"}, tensor<f32> {onnx.name = "grad_norm"}, tensor<2x3xf32> {onnx.name = "w"}, tensor<2x3xf32> {onnx.name = "exp_avg.w"}, tensor<2x3xf32> {onnx.name = "exp_avg_sq.w"}, tensor<2x3xf32> {onnx.name = "grad.w"})
// GRADS: %[[COEF:.*]] = "tailor.onnx.Min"
// GRADS: %[[CG:.*]] = "tailor.onnx.Mul"(%{{.*}}, %[[COEF]])
// GRADS: return {{.*}}, %[[CG]] :
// BADRE: error: tailor-optimizer: bad return-grads regex '('
func.func @step(%w: tensor<2x3xf32> {onnx.name = "w"}, %x: tensor<3xf32> {onnx.name = "x"}) -> (tensor<f32> {onnx.name = "loss"}, tensor<2x3xf32> {onnx.name = "grad.w"}) {
  %l = "tailor.onnx.ReduceSum"(%w) {keepdims = 0 : i64} : (tensor<2x3xf32>) -> tensor<f32>
  %g = "tailor.onnx.Mul"(%w, %x) : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  return %l, %g : tensor<f32>, tensor<2x3xf32>
}
