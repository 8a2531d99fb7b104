// An int4 weight in groups of 16 rows, one zero point non-zero.
func.func @main_graph(%x: tensor<?x16xf32> {onnx.name = "x"}) -> (tensor<?x8xf32> {onnx.name = "y"}) {
  %q = "tailor.onnx.Constant"() <{value = dense<-2> : tensor<16x8xi8>}> : () -> tensor<16x8xi8>
  %w = quant.scast %q : tensor<16x8xi8> to tensor<16x8x!quant.uniform<i8<-8:7>:f32:{0:16, 1:1}, {{0.5:3, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.25}}>>
  %b = "tailor.onnx.Constant"() <{value = dense<1.0> : tensor<8xf32>}> : () -> tensor<8xf32>
  %0 = tailor.linear %x, %w, %b : (tensor<?x16xf32>, tensor<16x8x!quant.uniform<i8<-8:7>:f32:{0:16, 1:1}, {{0.5:3, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.25}}>>, tensor<8xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}
