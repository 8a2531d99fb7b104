// RUN: tailor-opt %s --verify-diagnostics --tailor-quantize="mode=int4 group-size=3 qat=true" -o /dev/null

func.func @group(%x: tensor<3x4xf32> {onnx.name = "x", tailor.data},
                 %w: tensor<4x2xf32> {onnx.name = "w", tailor.trainable}) -> tensor<3x2xf32> {
  // expected-error @+1 {{tailor-quantize: group-size 3 does not divide K = 4 of 'w'}}
  %y = "tailor.onnx.MatMul"(%x, %w) : (tensor<3x4xf32>, tensor<4x2xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}
