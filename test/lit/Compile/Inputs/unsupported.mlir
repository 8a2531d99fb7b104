func.func @main_graph(%x: tensor<2x3xf32> {onnx.name = "x"}, %p: tensor<5xi64> {onnx.name = "p"}) -> (tensor<?x?xf32> {onnx.name = "y"}) {
  %0 = "tailor.onnx.Pad"(%x, %p) : (tensor<2x3xf32>, tensor<5xi64>) -> tensor<?x?xf32>
  return %0 : tensor<?x?xf32>
}
