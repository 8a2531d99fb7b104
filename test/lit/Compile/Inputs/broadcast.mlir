func.func @main_graph(%a: tensor<?xf32> {onnx.name = "a"}, %b: tensor<?xf32> {onnx.name = "b"}) -> (tensor<?xf32> {onnx.name = "y"}) {
  %0 = "tailor.onnx.Add"(%a, %b) : (tensor<?xf32>, tensor<?xf32>) -> tensor<?xf32>
  return %0 : tensor<?xf32>
}
