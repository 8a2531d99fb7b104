// RUN: tailor-opt %s --tailor-peft="method=adalora r=2 alpha=4 target=^proj$" | FileCheck %s
// RUN: tailor-opt %s --tailor-peft="method=adalora r=2 alpha=0 orth-reg-weight=0.1" | FileCheck %s --check-prefix=ALL
// RUN: not tailor-opt %s --tailor-peft="method=adalora r=0" 2>&1 | FileCheck %s --check-prefix=RANK
// RUN: not tailor-opt %s --tailor-peft="method=adalora orth-reg-weight=0" 2>&1 | FileCheck %s --check-prefix=ORTH
// RUN: not tailor-opt %s --tailor-peft="method=adalora alpha=-1" 2>&1 | FileCheck %s --check-prefix=ALPHA
// RUN: not tailor-opt %s --tailor-peft="method=adalora dora=true" 2>&1 | FileCheck %s --check-prefix=DORA
// RUN: not tailor-opt %s --tailor-peft="method=adalora target=nothing" 2>&1 | FileCheck %s --check-prefix=NONE

// AdaLoRA (PEFT's SVDLinear) beside the MatMul of module "proj": A [r, in]
// and B [out, r] start normal(0, 0.02), the singular values E [r, 1] at
// zero, named as PEFT's ParameterDicts name them;
// y = x W + alpha / (r + 1e-5) * (x (A * E)^T) B^T.
// CHECK-LABEL: func.func @main
// CHECK-SAME: %arg1: tensor<2x3xf32> {onnx.name = "proj.lora_A", tailor.init = "normal", tailor.init_std = 2.000000e-02 : f64, tailor.trainable}
// CHECK-SAME: %arg2: tensor<2x1xf32> {onnx.name = "proj.lora_E", tailor.init = "zeros", tailor.trainable}
// CHECK-SAME: %arg3: tensor<4x2xf32> {onnx.name = "proj.lora_B", tailor.init = "normal", tailor.init_std = 2.000000e-02 : f64, tailor.trainable}
// The orthogonality regulariser is a new result, which tailor-loss adds.
// CHECK-SAME: -> (tensor<5x2xf32>, tensor<f32> {onnx.name = "aux_loss.adalora_orth"})
// CHECK-SAME: attributes {tailor.peft = {init_r = 2 : i64, lora_alpha = 4.000000e+00 : f64, modules = ["proj"], orth_reg_weight = 5.000000e-01 : f64, peft_type = "ADALORA"}}
// CHECK: %[[Y:.*]] = "tailor.onnx.MatMul"(%arg0, %{{.*}}) : (tensor<5x3xf32>, tensor<3x4xf32>)
// CHECK: %[[AE:.*]] = "tailor.onnx.Mul"(%arg1, %arg2) : (tensor<2x3xf32>, tensor<2x1xf32>) -> tensor<2x3xf32>
// CHECK: %[[AT:.*]] = "tailor.onnx.Transpose"(%[[AE]])
// CHECK: %[[BT:.*]] = "tailor.onnx.Transpose"(%arg3)
// CHECK: %[[DOWN:.*]] = "tailor.onnx.MatMul"(%arg0, %[[AT]])
// CHECK: %[[UP:.*]] = "tailor.onnx.MatMul"(%[[DOWN]], %[[BT]])
// CHECK: %[[S:.*]] = "tailor.onnx.Constant"() <{value = dense<1.999990e+00> : tensor<f32>}>
// CHECK: %[[SCALED:.*]] = "tailor.onnx.Mul"(%[[UP]], %[[S]])
// CHECK: "tailor.onnx.Add"(%[[Y]], %[[SCALED]])
// ||A A^T - I||_F and ||B^T B - I||_F, their mean times 0.5.
// CHECK: %[[I:.*]] = "tailor.onnx.Constant"() <{value = dense<{{\[\[}}1.000000e+00, 0.000000e+00], [0.000000e+00, 1.000000e+00]]> : tensor<2x2xf32>}>
// CHECK: %[[ATR:.*]] = "tailor.onnx.Transpose"(%arg1)
// CHECK: %[[AAT:.*]] = "tailor.onnx.MatMul"(%arg1, %[[ATR]]) : (tensor<2x3xf32>, tensor<3x2xf32>) -> tensor<2x2xf32>
// CHECK: "tailor.onnx.Sub"(%[[AAT]], %[[I]])
// CHECK: %[[FA:.*]] = "tailor.onnx.Sqrt"
// CHECK: "tailor.onnx.MatMul"(%{{.*}}, %arg3) : (tensor<2x4xf32>, tensor<4x2xf32>) -> tensor<2x2xf32>
// CHECK: %[[FB:.*]] = "tailor.onnx.Sqrt"
// CHECK: %[[SUM:.*]] = "tailor.onnx.Add"(%[[FA]], %[[FB]])
// CHECK: %[[W:.*]] = "tailor.onnx.Constant"() <{value = dense<2.500000e-01> : tensor<f32>}>
// CHECK: %[[REG:.*]] = "tailor.onnx.Mul"(%[[SUM]], %[[W]])
// CHECK: return %{{.*}}, %[[REG]]
// Every module; alpha 0 means a scaling of r (2 / (2 + 1e-5)); the mean
// over four factors times 0.1.
// ALL: onnx.name = "proj.lora_A"
// ALL: onnx.name = "other.lora_A"
// ALL: dense<0.999994993> : tensor<f32>
// ALL: dense<2.500000e-02> : tensor<f32>
// RANK: error: tailor-peft: AdaLoRA needs r > 0, alpha >= 0 and orth-reg-weight > 0 (got r = 0, alpha = 1.600000e+01, orth-reg-weight = 5.000000e-01)
// ORTH: error: tailor-peft: AdaLoRA needs r > 0, alpha >= 0 and orth-reg-weight > 0 (got r = 8, alpha = 1.600000e+01, orth-reg-weight = 0.000000e+00)
// ALPHA: error: tailor-peft: AdaLoRA needs r > 0, alpha >= 0 and orth-reg-weight > 0 (got r = 8, alpha = -1.000000e+00
// DORA: error: tailor-peft: AdaLoRA takes no dora, rslora or lora-fa
// NONE: error: tailor-peft: no MatMul with a constant weight matches the AdaLoRA targets
func.func @main(%x: tensor<5x3xf32>) -> tensor<5x2xf32> {
  %w = "tailor.onnx.Constant"() {value = dense_resource<w> : tensor<3x4xf32>} : () -> tensor<3x4xf32> loc("onnx::MatMul_1")
  %w2 = "tailor.onnx.Constant"() {value = dense_resource<w2> : tensor<4x2xf32>} : () -> tensor<4x2xf32> loc("onnx::MatMul_2")
  %y = "tailor.onnx.MatMul"(%x, %w) : (tensor<5x3xf32>, tensor<3x4xf32>) -> tensor<5x4xf32> loc("/proj/MatMul")
  %r = "tailor.onnx.Relu"(%y) : (tensor<5x4xf32>) -> tensor<5x4xf32>
  %z = "tailor.onnx.MatMul"(%r, %w2) : (tensor<5x4xf32>, tensor<4x2xf32>) -> tensor<5x2xf32> loc("/other/MatMul")
  return %z : tensor<5x2xf32>
}
{-#
  dialect_resources: {
    builtin: {
      w: "0x040000000000803F0000004000004040000080400000A0400000C0400000E0400000004100001041000020410000304100004041",
      w2: "0x040000000000803F00000040000040400000804000000000000000000000000000000000"
    }
  }
#-}
