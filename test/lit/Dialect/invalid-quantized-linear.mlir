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

// -----

func.func @act_quant_unknown(%x: tensor<?x2xf32>, %w: tensor<2x2x!quant.uniform<i8:f32:1, {0.5,0.5}>>) -> tensor<?x2xf32> {
  // expected-error@+1 {{unknown activation_quant "int4_per_token" (known: "int8_per_token")}}
  %0 = tailor.linear %x, %w {activation_quant = "int4_per_token"} : (tensor<?x2xf32>, tensor<2x2x!quant.uniform<i8:f32:1, {0.5,0.5}>>) -> tensor<?x2xf32>
  return %0 : tensor<?x2xf32>
}

// -----

func.func @act_quant_grouped(%x: tensor<?x2xf32>, %w: tensor<2x2x!quant.uniform<i8<-8:7>:f32:{0:2, 1:1}, {{0.5,0.5}}>>) -> tensor<?x2xf32> {
  // expected-error@+1 {{activation_quant "int8_per_token" needs an i8 weight quantized per output channel}}
  %0 = tailor.linear %x, %w {activation_quant = "int8_per_token"} : (tensor<?x2xf32>, tensor<2x2x!quant.uniform<i8<-8:7>:f32:{0:2, 1:1}, {{0.5,0.5}}>>) -> tensor<?x2xf32>
  return %0 : tensor<?x2xf32>
}

// -----

func.func @act_quant_float(%x: tensor<?x2xf32>, %w: tensor<2x2xf32>) -> tensor<?x2xf32> {
  // expected-error@+1 {{activation_quant needs a quantized weight}}
  %0 = tailor.linear %x, %w {activation_quant = "int8_per_token"} : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
  return %0 : tensor<?x2xf32>
}
