// RUN: tailor-opt %s --pass-pipeline="builtin.module(tailor-lora-merge)" --split-input-file | FileCheck %s

// y = linear(x, W) + 0.5 * linear(linear(x, A), B) with W = 1, A = 1, B = 2
// (K = 2, r = 1, N = 2): W' = 1 + 0.5 * (1 * 2) = 2 everywhere; the base
// bias is kept.
// CHECK-LABEL: func.func @merge
// CHECK: %[[W:.*]] = "tailor.onnx.Constant"() <{value = dense_resource<tailor_lora_merged> : tensor<2x2xf32>}>
// CHECK: %[[Y:.*]] = tailor.linear %arg0, %[[W]], %{{.*}} :
// CHECK-NOT: tailor.linear
// CHECK: return %[[Y]]
// CHECK: tailor_lora_merged: "0x0400000000000040000000400000004000000040"
func.func @merge(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %w = "tailor.onnx.Constant"() <{value = dense<1.0> : tensor<2x2xf32>}> : () -> tensor<2x2xf32>
  %bias = "tailor.onnx.Constant"() <{value = dense<3.0> : tensor<2xf32>}> : () -> tensor<2xf32>
  %a = "tailor.onnx.Constant"() <{value = dense<1.0> : tensor<2x1xf32>}> : () -> tensor<2x1xf32>
  %b = "tailor.onnx.Constant"() <{value = dense<2.0> : tensor<1x2xf32>}> : () -> tensor<1x2xf32>
  %s = "tailor.onnx.Constant"() <{value = dense<0.5> : tensor<f32>}> : () -> tensor<f32>
  %0 = tailor.linear %x, %w, %bias : (tensor<?x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<?x2xf32>
  %1 = tailor.linear %x, %a : (tensor<?x2xf32>, tensor<2x1xf32>) -> tensor<?x1xf32>
  %2 = tailor.linear %1, %b : (tensor<?x1xf32>, tensor<1x2xf32>) -> tensor<?x2xf32>
  %3 = "tailor.onnx.Mul"(%s, %2) : (tensor<f32>, tensor<?x2xf32>) -> tensor<?x2xf32>
  %4 = "tailor.onnx.Add"(%3, %0) : (tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<?x2xf32>
  return %4 : tensor<?x2xf32>
}

// -----

// A trainable (non-constant) adapter stays unmerged; so does a branch whose
// up-projection has a bias (not a LoRA branch).
// CHECK-LABEL: func.func @not_lora
// CHECK-COUNT-6: tailor.linear
// CHECK-NOT: tailor_lora_merged
func.func @not_lora(%x: tensor<?x2xf32>, %a: tensor<2x1xf32>) -> (tensor<?x2xf32>, tensor<?x2xf32>) {
  %w = "tailor.onnx.Constant"() <{value = dense<1.0> : tensor<2x2xf32>}> : () -> tensor<2x2xf32>
  %w2 = "tailor.onnx.Constant"() <{value = dense<1.0> : tensor<2x2xf32>}> : () -> tensor<2x2xf32>
  %ac = "tailor.onnx.Constant"() <{value = dense<1.0> : tensor<2x1xf32>}> : () -> tensor<2x1xf32>
  %b = "tailor.onnx.Constant"() <{value = dense<2.0> : tensor<1x2xf32>}> : () -> tensor<1x2xf32>
  %bias = "tailor.onnx.Constant"() <{value = dense<3.0> : tensor<2xf32>}> : () -> tensor<2xf32>
  %0 = tailor.linear %x, %w : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
  %1 = tailor.linear %x, %a : (tensor<?x2xf32>, tensor<2x1xf32>) -> tensor<?x1xf32>
  %2 = tailor.linear %1, %b : (tensor<?x1xf32>, tensor<1x2xf32>) -> tensor<?x2xf32>
  %3 = "tailor.onnx.Add"(%0, %2) : (tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<?x2xf32>
  %4 = tailor.linear %x, %w2 : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
  %5 = tailor.linear %x, %ac : (tensor<?x2xf32>, tensor<2x1xf32>) -> tensor<?x1xf32>
  %6 = tailor.linear %5, %b, %bias : (tensor<?x1xf32>, tensor<1x2xf32>, tensor<2xf32>) -> tensor<?x2xf32>
  %7 = "tailor.onnx.Add"(%4, %6) : (tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<?x2xf32>
  return %3, %7 : tensor<?x2xf32>, tensor<?x2xf32>
}
