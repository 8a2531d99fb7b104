func.func @main_graph(%x: tensor<?x2xf32> {onnx.name = "x"}) -> (tensor<?x3xf32> {onnx.name = "y"}) {
  %wu = "tailor.onnx.Constant"() <{value = dense<[[1.0, -2.0, 0.5, 3.0], [0.25, 1.0, -1.0, 2.0]]> : tensor<2x4xf32>}> : () -> tensor<2x4xf32> loc("layers.0.up.weight")
  %wd = "tailor.onnx.Constant"() <{value = dense<[[1.0, -2.0], [0.5, 3.0], [0.25, 1.0], [-1.0, 2.0]]> : tensor<4x2xf32>}> : () -> tensor<4x2xf32> loc("layers.0.down.weight")
  %wh = "tailor.onnx.Constant"() <{value = dense<[[1.0, -2.0, 0.5], [0.25, 1.0, -1.0]]> : tensor<2x3xf32>}> : () -> tensor<2x3xf32> loc("lm_head.weight")
  %0 = "tailor.onnx.MatMul"(%x, %wu) : (tensor<?x2xf32>, tensor<2x4xf32>) -> tensor<?x4xf32>
  %1 = "tailor.onnx.MatMul"(%0, %wd) : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32>
  %2 = "tailor.onnx.MatMul"(%1, %wh) : (tensor<?x2xf32>, tensor<2x3xf32>) -> tensor<?x3xf32>
  return %2 : tensor<?x3xf32>
}
