// RUN: tailor-opt %s --tailor-peft --split-input-file | FileCheck %s
// RUN: tailor-opt %s --tailor-peft="exclude=norm" --split-input-file | FileCheck %s --check-prefix=EXCLUDE
// RUN: tailor-opt %s --tailor-peft="target=^head" --split-input-file | FileCheck %s --check-prefix=TARGET
// RUN: not tailor-opt %s --tailor-peft=method=dora --split-input-file 2>&1 | FileCheck %s --check-prefix=METHOD
// RUN: not tailor-opt %s --tailor-peft="target=(" --split-input-file 2>&1 | FileCheck %s --check-prefix=REGEX

// Named initializers become arguments; a MatMul's right operand is named
// after the MatMul's module and marked transposed; scalars and the outputs
// of Constant nodes (names starting with "/") stay constants; a copy that
// is another weight's transpose (a tied lm_head, even when its MatMul
// names a module) reads that argument.
// CHECK-LABEL: func.func @lm
// Each keeps its initial value (tailor.init) for tailor-train.
// CHECK-SAME: %arg1: tensor<4x3xf32> {onnx.name = "embed.weight", tailor.init = dense<{{\[}}[1.000000e+00, 2.000000e+00, 3.000000e+00],
// CHECK-SAME: tailor.trainable}
// CHECK-SAME: %arg2: tensor<3xf32> {onnx.name = "norm.weight", tailor.init = dense<[1.000000e+00, 1.500000e+00, 2.000000e+00]> : tensor<3xf32>, tailor.trainable}
// CHECK-SAME: %arg3: tensor<3x2xf32> {onnx.name = "head.weight", tailor.init = {{.*}}, tailor.trainable, tailor.transposed})
// CHECK-SAME: attributes {tailor.peft = {peft_type = "FULL"}}
// CHECK-NOT: %arg4
// CHECK: %[[TIED:.*]] = "tailor.onnx.Transpose"(%arg1) <{perm = array<i64: 1, 0>}> : (tensor<4x3xf32>) -> tensor<3x4xf32>
// CHECK: "tailor.onnx.Constant"() <{value = dense<9.99999974E-6> : tensor<f32>}>
// CHECK: "tailor.onnx.Constant"() <{value = dense<2.000000e+00> : tensor<2xf32>}>
// CHECK: "tailor.onnx.Gather"(%arg1, %arg0)
// CHECK: "tailor.onnx.Mul"(%{{.*}}, %arg2)
// CHECK: "tailor.onnx.MatMul"(%{{.*}}, %arg3)
// CHECK: "tailor.onnx.MatMul"(%{{.*}}, %[[TIED]])
// EXCLUDE-LABEL: func.func @lm
// EXCLUDE-NOT: norm.weight"}
// EXCLUDE: onnx.name = "head.weight"
// TARGET-LABEL: func.func @lm
// TARGET-SAME: (%arg0: tensor<2x5xi64>, %arg1: tensor<3x2xf32> {onnx.name = "head.weight", tailor.init = {{.*}}, tailor.trainable, tailor.transposed})
// METHOD: error: tailor-peft: unknown method 'dora' (known: full, lora, adalora, bitfit, ia3, adapter, prefix, prompt)
// REGEX: error: tailor-peft: bad regex '('
func.func @lm(%ids: tensor<2x5xi64>) -> (tensor<2x5x2xf32>, tensor<2x5x4xf32>) {
  %emb = "tailor.onnx.Constant"() {value = dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0], [10.0, 11.0, 12.0]]> : tensor<4x3xf32>} : () -> tensor<4x3xf32> loc("embed.weight")
  %g = "tailor.onnx.Constant"() {value = dense<[1.0, 1.5, 2.0]> : tensor<3xf32>} : () -> tensor<3xf32> loc("norm.weight")
  %w = "tailor.onnx.Constant"() {value = dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf32>} : () -> tensor<3x2xf32> loc("onnx::MatMul_7")
  %tied = "tailor.onnx.Constant"() {value = dense<[[1.0, 4.0, 7.0, 10.0], [2.0, 5.0, 8.0, 11.0], [3.0, 6.0, 9.0, 12.0]]> : tensor<3x4xf32>} : () -> tensor<3x4xf32> loc("onnx::MatMul_9")
  %eps = "tailor.onnx.Constant"() {value = dense<1.0e-5> : tensor<f32>} : () -> tensor<f32> loc("eps")
  %two = "tailor.onnx.Constant"() {value = dense<2.0> : tensor<2xf32>} : () -> tensor<2xf32> loc("/blocks.0/Constant_3")
  %x = "tailor.onnx.Gather"(%emb, %ids) {axis = 0 : i64} : (tensor<4x3xf32>, tensor<2x5xi64>) -> tensor<2x5x3xf32>
  %n = "tailor.onnx.Mul"(%x, %g) : (tensor<2x5x3xf32>, tensor<3xf32>) -> tensor<2x5x3xf32>
  %m = "tailor.onnx.Add"(%n, %eps) : (tensor<2x5x3xf32>, tensor<f32>) -> tensor<2x5x3xf32>
  %y = "tailor.onnx.MatMul"(%m, %w) : (tensor<2x5x3xf32>, tensor<3x2xf32>) -> tensor<2x5x2xf32> loc("/head/MatMul")
  %z = "tailor.onnx.Mul"(%y, %two) : (tensor<2x5x2xf32>, tensor<2xf32>) -> tensor<2x5x2xf32>
  %l = "tailor.onnx.MatMul"(%m, %tied) : (tensor<2x5x3xf32>, tensor<3x4xf32>) -> tensor<2x5x4xf32> loc("/lm_head/MatMul")
  return %z, %l : tensor<2x5x2xf32>, tensor<2x5x4xf32>
}
