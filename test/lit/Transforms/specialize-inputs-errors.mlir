// RUN: tailor-opt %s -verify-diagnostics -tailor-specialize-inputs="shapes=input_ids:2xfive" -o /dev/null

// expected-error @+1 {{tailor-specialize-inputs: 'input_ids:2xfive' is not name:AxB... (sizes >= 0)}}
func.func @bad(%a: tensor<?x?xi64> {onnx.name = "input_ids"}) -> tensor<?x?xi64> {
  return %a : tensor<?x?xi64>
}
