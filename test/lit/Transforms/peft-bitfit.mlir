// RUN: tailor-opt %s --tailor-peft=method=bitfit --split-input-file --verify-diagnostics | FileCheck %s

// BitFit: only the bias vector (1-D, named *.bias) becomes an argument; the
// matrix and the norm weight stay constants.
// CHECK-LABEL: func.func @linear
// CHECK-SAME: (%arg0: tensor<2x3xf32>, %arg1: tensor<2xf32> {onnx.name = "proj.bias", tailor.init = dense<[5.000000e-01, -5.000000e-01]> : tensor<2xf32>, tailor.trainable})
// CHECK-SAME: attributes {tailor.peft = {peft_type = "BITFIT"}}
// CHECK: "tailor.onnx.Add"(%{{.*}}, %arg1)
func.func @linear(%x: tensor<2x3xf32>) -> tensor<2x2xf32> {
  %w = "tailor.onnx.Constant"() {value = dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf32>} : () -> tensor<3x2xf32> loc("onnx::MatMul_7")
  %b = "tailor.onnx.Constant"() {value = dense<[0.5, -0.5]> : tensor<2xf32>} : () -> tensor<2xf32> loc("proj.bias")
  %g = "tailor.onnx.Constant"() {value = dense<[1.0, 2.0]> : tensor<2xf32>} : () -> tensor<2xf32> loc("norm.weight")
  %y = "tailor.onnx.MatMul"(%x, %w) : (tensor<2x3xf32>, tensor<3x2xf32>) -> tensor<2x2xf32> loc("/proj/MatMul")
  %z = "tailor.onnx.Add"(%y, %b) : (tensor<2x2xf32>, tensor<2xf32>) -> tensor<2x2xf32>
  %n = "tailor.onnx.Mul"(%z, %g) : (tensor<2x2xf32>, tensor<2xf32>) -> tensor<2x2xf32>
  return %n : tensor<2x2xf32>
}

// -----

// expected-error @+1 {{tailor-peft: method=bitfit found no bias vector (a 1-D weight named *.bias) to train}}
func.func @no_bias(%x: tensor<2x3xf32>) -> tensor<2x2xf32> {
  %w = "tailor.onnx.Constant"() {value = dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf32>} : () -> tensor<3x2xf32> loc("onnx::MatMul_7")
  %y = "tailor.onnx.MatMul"(%x, %w) : (tensor<2x3xf32>, tensor<3x2xf32>) -> tensor<2x2xf32> loc("/proj/MatMul")
  return %y : tensor<2x2xf32>
}
