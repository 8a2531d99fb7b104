// An attention op (phase 2+ of tailor-raise) has no single ONNX form.
func.func @main_graph(%q: tensor<1x2x3x4xf32> {onnx.name = "q"}) -> (tensor<1x2x3x4xf32> {onnx.name = "y"}) {
  %0 = tailor.attention %q, %q, %q : tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32> -> tensor<1x2x3x4xf32>
  return %0 : tensor<1x2x3x4xf32>
}
