// RUN: tailor-opt %s --split-input-file -verify-diagnostics

func.func @per_column(%t: tensor<2x3x!quant.uniform<i8:f32:1, {0.5,0.5,0.5}>>, %ids: tensor<?xi64>) -> tensor<?x3xf32> {
  // expected-error@+1 {{a quantized table must be quantized per row (axis 0)}}
  %0 = tailor.embedding %t, %ids : (tensor<2x3x!quant.uniform<i8:f32:1, {0.5,0.5,0.5}>>, tensor<?xi64>) -> tensor<?x3xf32>
  return %0 : tensor<?x3xf32>
}

// -----

func.func @expressed(%t: tensor<2x3x!quant.uniform<i8:f16:0, {0.5,0.5}>>, %ids: tensor<?xi64>) -> tensor<?x3xf32> {
  // expected-error@+1 {{quantized table expresses 'f16', the result is 'f32'}}
  %0 = tailor.embedding %t, %ids : (tensor<2x3x!quant.uniform<i8:f16:0, {0.5,0.5}>>, tensor<?xi64>) -> tensor<?x3xf32>
  return %0 : tensor<?x3xf32>
}

// -----

func.func @integers(%t: tensor<2x3xi8>, %ids: tensor<?xi64>) -> tensor<?x3xf32> {
  // expected-error@+1 {{table must be a float or quantized tensor, got 'tensor<2x3xi8>'}}
  %0 = tailor.embedding %t, %ids : (tensor<2x3xi8>, tensor<?xi64>) -> tensor<?x3xf32>
  return %0 : tensor<?x3xf32>
}
