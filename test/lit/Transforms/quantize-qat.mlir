// RUN: tailor-opt %s --split-input-file --verify-diagnostics --tailor-quantize="mode=int4 group-size=2 qat=true" | FileCheck %s
// RUN: tailor-opt %s --split-input-file --verify-diagnostics --tailor-quantize="mode=int8 qat=true" | FileCheck %s --check-prefix=INT8

// A trainable MatMul weight is read through fake quantization; a constant
// weight is left alone.
// CHECK-LABEL: func.func @qat
// CHECK: %[[FQ:.*]] = tailor.fake_quant %arg1 {bits = 4 : i64, group_size = 2 : i64, symmetric = true}
// CHECK: "tailor.onnx.MatMul"(%arg0, %[[FQ]])
// CHECK: "tailor.onnx.MatMul"(%{{.*}}, %{{.*}}) : (tensor<3x2xf32>, tensor<2x2xf32>)
// INT8: tailor.fake_quant %arg1 {bits = 8 : i64, group_size = 0 : i64, symmetric = true}
func.func @qat(%x: tensor<3x4xf32> {onnx.name = "x", tailor.data},
               %w: tensor<4x2xf32> {onnx.name = "w", tailor.trainable}) -> tensor<3x2xf32> {
  %y = "tailor.onnx.MatMul"(%x, %w) : (tensor<3x4xf32>, tensor<4x2xf32>) -> tensor<3x2xf32>
  %c = "tailor.onnx.Constant"() {value = dense<1.0> : tensor<2x2xf32>} : () -> tensor<2x2xf32>
  %z = "tailor.onnx.MatMul"(%y, %c) : (tensor<3x2xf32>, tensor<2x2xf32>) -> tensor<3x2xf32>
  return %z : tensor<3x2xf32>
}

// -----

// expected-error @+1 {{tailor-quantize: qat=true found no trainable MatMul weight}}
func.func @none(%x: tensor<3x4xf32> {onnx.name = "x"}) -> tensor<3x4xf32> {
  return %x : tensor<3x4xf32>
}
