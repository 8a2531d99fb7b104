func.func @main_graph(%x: tensor<?x4xf32> {onnx.name = "x"}) -> (tensor<?x2xf32> {onnx.name = "y"}) {
  %w = "tailor.onnx.Constant"() {value = dense<[[1.0, -1.0], [0.5, 2.0], [-0.25, 1.0], [3.0, 0.0]]> : tensor<4x2xf32>} : () -> tensor<4x2xf32>
  %0 = "tailor.onnx.MatMul"(%x, %w) : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32>
  return %0 : tensor<?x2xf32>
}
