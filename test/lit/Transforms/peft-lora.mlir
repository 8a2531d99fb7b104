// RUN: tailor-opt %s --tailor-peft="method=lora r=2 alpha=4 target=^proj$" | FileCheck %s
// RUN: tailor-opt %s --tailor-peft="method=lora r=4 alpha=4 rslora=true" | FileCheck %s --check-prefix=RS
// RUN: tailor-opt %s --tailor-peft="method=lora r=2 alpha=4 dora=true target=^proj$" | FileCheck %s --check-prefix=DORA
// RUN: tailor-opt %s --tailor-peft="method=lora r=2 alpha=4 lora-fa=true target=^proj$" | FileCheck %s --check-prefix=FA
// RUN: not tailor-opt %s --tailor-peft="method=lora r=0" 2>&1 | FileCheck %s --check-prefix=RANK
// RUN: not tailor-opt %s --tailor-peft="method=lora target=nothing" 2>&1 | FileCheck %s --check-prefix=NONE

// LoRA beside the MatMul of module "proj" (its node /proj/MatMul): the base
// weight stays a constant; A [r, in] and B [out, r] are new arguments named
// as PEFT names them; y = x W + alpha / r * (x A^T) B^T.
// CHECK-LABEL: func.func @main
// CHECK-SAME: %arg1: tensor<2x3xf32> {onnx.name = "proj.lora_A.weight", tailor.init = "kaiming_uniform", tailor.trainable}, %arg2: tensor<4x2xf32> {onnx.name = "proj.lora_B.weight", tailor.init = "zeros", tailor.trainable}
// What an adapter_config.json needs.
// CHECK-SAME: attributes {tailor.peft = {lora_alpha = 4.000000e+00 : f64, lora_fa = false, modules = ["proj"], peft_type = "LORA", r = 2 : i64, use_dora = false, use_rslora = false}}
// CHECK: %[[W:.*]] = "tailor.onnx.Constant"() <{value = dense_resource<w>
// CHECK: %[[Y:.*]] = "tailor.onnx.MatMul"(%arg0, %[[W]])
// CHECK: %[[AT:.*]] = "tailor.onnx.Transpose"(%arg1) <{perm = array<i64: 1, 0>}> : (tensor<2x3xf32>) -> tensor<3x2xf32>
// CHECK: %[[BT:.*]] = "tailor.onnx.Transpose"(%arg2) <{perm = array<i64: 1, 0>}> : (tensor<4x2xf32>) -> tensor<2x4xf32>
// CHECK: %[[DOWN:.*]] = "tailor.onnx.MatMul"(%arg0, %[[AT]]) : (tensor<5x3xf32>, tensor<3x2xf32>) -> tensor<5x2xf32>
// CHECK: %[[UP:.*]] = "tailor.onnx.MatMul"(%[[DOWN]], %[[BT]]) : (tensor<5x2xf32>, tensor<2x4xf32>) -> tensor<5x4xf32>
// CHECK: %[[S:.*]] = "tailor.onnx.Constant"() <{value = dense<2.000000e+00> : tensor<f32>}>
// CHECK: %[[SCALED:.*]] = "tailor.onnx.Mul"(%[[UP]], %[[S]])
// CHECK: %[[SUM:.*]] = "tailor.onnx.Add"(%[[Y]], %[[SCALED]])
// CHECK: "tailor.onnx.Relu"(%[[SUM]])
// The other MatMul (module "other") is not a target.
// CHECK-NOT: lora
// rsLoRA: alpha / sqrt(r) = 2, and every module gets an adapter.
// RS: onnx.name = "proj.lora_A.weight"
// RS: onnx.name = "other.lora_A.weight"
// RS: dense<2.000000e+00> : tensor<f32>
// DoRA: the magnitude starts at the rows' norms of PyTorch's [out, in]
// weight (the columns of the [in, out] constant: sqrt(1 + 25 + 81), ...);
// the norm of W + s B A is not differentiated; y = base + (m/n - 1) base +
// (m/n) lora.
// DORA-LABEL: func.func @main
// DORA-SAME: %arg3: tensor<4xf32> {onnx.name = "proj.lora_magnitude_vector", tailor.init = dense<[10.34408, 11.83216, 13.3790884, 14.96663]> : tensor<4xf32>, tailor.trainable}
// DORA-SAME: use_dora = true
// DORA: %[[BASE:.*]] = "tailor.onnx.MatMul"(%arg0, %{{.*}}) : (tensor<5x3xf32>, tensor<3x4xf32>) -> tensor<5x4xf32>
// DORA: %[[LORA:.*]] = "tailor.onnx.Mul"(%{{.*}}, %{{.*}}) : (tensor<5x4xf32>, tensor<f32>) -> tensor<5x4xf32>
// DORA: %[[NORM:.*]] = "tailor.onnx.Sqrt"
// DORA: %[[DETACHED:.*]] = tailor.stop_gradient %[[NORM]] : tensor<4xf32>
// DORA: %[[RATIO:.*]] = "tailor.onnx.Div"(%arg3, %[[DETACHED]])
// DORA: %[[M1:.*]] = "tailor.onnx.Sub"(%[[RATIO]],
// DORA: %[[EXTRA:.*]] = "tailor.onnx.Mul"(%[[M1]], %[[BASE]])
// DORA: %[[SCALED:.*]] = "tailor.onnx.Mul"(%[[RATIO]], %[[LORA]])
// DORA: %[[D:.*]] = "tailor.onnx.Add"(%[[EXTRA]], %[[SCALED]])
// DORA: %[[Y:.*]] = "tailor.onnx.Add"(%[[BASE]], %[[D]])
// DORA: "tailor.onnx.Relu"(%[[Y]])
// LoRA-FA: A is a frozen input with its initial value, B trains.
// FA-LABEL: func.func @main
// FA-SAME: %arg1: tensor<2x3xf32> {onnx.name = "proj.lora_A.weight", tailor.frozen, tailor.init = "kaiming_uniform"}, %arg2: tensor<4x2xf32> {onnx.name = "proj.lora_B.weight", tailor.init = "zeros", tailor.trainable}
// FA-SAME: lora_fa = true
// RANK: error: tailor-peft: LoRA needs r > 0 and alpha > 0 (got r = 0, alpha = 1.600000e+01)
// NONE: error: tailor-peft: no MatMul with a constant weight matches the LoRA targets
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
