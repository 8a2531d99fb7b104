// int4 storage holding 9: outside the 4-bit range MatMulNBits packs.
func.func @main_graph(%x: tensor<?x16xf32> {onnx.name = "x"}) -> (tensor<?x8xf32> {onnx.name = "y"}) {
  %q = "tailor.onnx.Constant"() <{value = dense<9> : tensor<16x8xi8>}> : () -> tensor<16x8xi8>
  %w = quant.scast %q : tensor<16x8xi8> to tensor<16x8x!quant.uniform<i8<-8:7>:f32:{0:16, 1:1}, {{0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5}}>>
  %0 = tailor.linear %x, %w : (tensor<?x16xf32>, tensor<16x8x!quant.uniform<i8<-8:7>:f32:{0:16, 1:1}, {{0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5}}>>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}
