func.func @main_graph(%d: tensor<?xf32> {onnx.name = "d"}, %i: tensor<?xi64> {onnx.name = "i"}) -> (tensor<?xf32> {onnx.name = "y"}) {
  %0 = "tailor.onnx.Gather"(%d, %i) {axis = 0 : i64} : (tensor<?xf32>, tensor<?xi64>) -> tensor<?xf32>
  return %0 : tensor<?xf32>
}
