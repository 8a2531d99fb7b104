// RUN: tailor-opt %s --verify-diagnostics --tailor-load-weights=file=%t.missing.safetensors -o /dev/null

// expected-error @+1 {{tailor-load-weights: }}
func.func @f(%x: tensor<2xf32> {onnx.name = "x"}) -> tensor<2xf32> {
  return %x : tensor<2xf32>
}
