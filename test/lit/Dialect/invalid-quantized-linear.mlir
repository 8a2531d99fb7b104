// RUN: tailor-opt %s --split-input-file -verify-diagnostics

func.func @per_row(%x: tensor<?x2xf32>, %w: tensor<2x2x!quant.uniform<i8:f32:0, {0.5,0.5}>>) -> tensor<?x2xf32> {
  // expected-error@+1 {{a quantized weight must be quantized per output channel (axis 1) or per group of input rows}}
  %0 = tailor.linear %x, %w : (tensor<?x2xf32>, tensor<2x2x!quant.uniform<i8:f32:0, {0.5,0.5}>>) -> tensor<?x2xf32>
  return %0 : tensor<?x2xf32>
}

// -----

func.func @expressed(%x: tensor<?x2xf32>, %w: tensor<2x2x!quant.uniform<i8:f16:1, {0.5,0.5}>>) -> tensor<?x2xf32> {
  // expected-error@+1 {{quantized weight expresses 'f16', the result is 'f32'}}
  %0 = tailor.linear %x, %w : (tensor<?x2xf32>, tensor<2x2x!quant.uniform<i8:f16:1, {0.5,0.5}>>) -> tensor<?x2xf32>
  return %0 : tensor<?x2xf32>
}
