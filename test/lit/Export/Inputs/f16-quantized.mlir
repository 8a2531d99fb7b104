// An int8 weight expressing f16: opset 17's DequantizeLinear yields f32.
func.func @main_graph(%x: tensor<?x2xf16> {onnx.name = "x"}) -> (tensor<?x2xf16> {onnx.name = "y"}) {
  %q = "tailor.onnx.Constant"() <{value = dense<1> : tensor<2x2xi8>}> : () -> tensor<2x2xi8>
  %w = quant.scast %q : tensor<2x2xi8> to tensor<2x2x!quant.uniform<i8:f16:1, {0.5, 0.5}>>
  %0 = tailor.linear %x, %w : (tensor<?x2xf16>, tensor<2x2x!quant.uniform<i8:f16:1, {0.5, 0.5}>>) -> tensor<?x2xf16>
  return %0 : tensor<?x2xf16>
}
