// RUN: not tailor-opt %s --split-input-file --tailor-recompute=policy=most 2>&1 | FileCheck %s --check-prefix=POLICY
// RUN: not tailor-opt %s --split-input-file --tailor-recompute=policy=budget 2>&1 | FileCheck %s --check-prefix=BUDGET
// RUN: not tailor-opt %s --split-input-file --tailor-recompute="policy=every-k k=0" 2>&1 | FileCheck %s --check-prefix=K
// RUN: tailor-opt %s --split-input-file --verify-diagnostics --tailor-recompute -o /dev/null

// POLICY: error: tailor-recompute: policy must be sqrt, every-k, budget or none, not 'most'
// BUDGET: error: tailor-recompute: policy=budget needs budget=<bytes> > 0
// K: error: tailor-recompute: k must be at least 1
func.func @short(%x: tensor<f32> {onnx.name = "x"}) -> (tensor<f32> {onnx.name = "loss"}) {
  %y = "tailor.onnx.Neg"(%x) : (tensor<f32>) -> tensor<f32>
  return %y : tensor<f32>
}

// -----

// expected-error @+1 {{tailor-recompute: the entry returns no computed 'loss' (run tailor-loss and tailor-autodiff first)}}
func.func @no_loss(%x: tensor<f32> {onnx.name = "x"}) -> (tensor<f32> {onnx.name = "y"}) {
  %y = "tailor.onnx.Neg"(%x) : (tensor<f32>) -> tensor<f32>
  return %y : tensor<f32>
}
