// RUN: tailor-opt %s -split-input-file -verify-diagnostics

func.func @linear_features(%x: tensor<2x16xf32>, %w: tensor<8x4xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{input has 16 features but weight expects 8}}
  %0 = tailor.linear %x, %w : (tensor<2x16xf32>, tensor<8x4xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @linear_result(%x: tensor<2x16xf32>, %w: tensor<16x4xf32>) -> tensor<2x5xf32> {
  // expected-error @+1 {{result type 'tensor<2x5xf32>' is incompatible with 'tensor<2x4xf32>'}}
  %0 = tailor.linear %x, %w : (tensor<2x16xf32>, tensor<16x4xf32>) -> tensor<2x5xf32>
  return %0 : tensor<2x5xf32>
}

// -----

func.func @gqa_heads(%q: tensor<1x6x4x8xf32>, %k: tensor<1x4x4x8xf32>) -> tensor<1x6x4x8xf32> {
  // expected-error @+1 {{query heads (6) must be a multiple of key/value heads (4)}}
  %0 = tailor.attention %q, %k, %k : tensor<1x6x4x8xf32>, tensor<1x4x4x8xf32>, tensor<1x4x4x8xf32> -> tensor<1x6x4x8xf32>
  return %0 : tensor<1x6x4x8xf32>
}

// -----

func.func @attention_rank(%q: tensor<6x4x8xf32>) -> tensor<6x4x8xf32> {
  // expected-error @+1 {{must be 4-D}}
  %0 = tailor.attention %q, %q, %q : tensor<6x4x8xf32>, tensor<6x4x8xf32>, tensor<6x4x8xf32> -> tensor<6x4x8xf32>
  return %0 : tensor<6x4x8xf32>
}

// -----

func.func @norm_weight(%x: tensor<2x16xf32>, %g: tensor<8xf32>) -> tensor<2x16xf32> {
  // expected-error @+1 {{weight has 8 features but the input's last dimension is 16}}
  %0 = tailor.rms_norm %x, %g : (tensor<2x16xf32>, tensor<8xf32>) -> tensor<2x16xf32>
  return %0 : tensor<2x16xf32>
}

// -----

func.func @rotary_odd(%x: tensor<1x2x4x7xf32>, %c: tensor<4x7xf32>) -> tensor<1x2x4x7xf32> {
  // expected-error @+1 {{head dimension must be even, got 7}}
  %0 = tailor.rotary %x, %c, %c : (tensor<1x2x4x7xf32>, tensor<4x7xf32>, tensor<4x7xf32>) -> tensor<1x2x4x7xf32>
  return %0 : tensor<1x2x4x7xf32>
}

// -----

func.func @gelu_mode(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{approximate must be "none" or "tanh", got "fast"}}
  %0 = tailor.gelu %x {approximate = "fast"} : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @moe_topk(%x: tensor<4x16xf32>, %r: tensor<16x4xf32>, %g: tensor<4x16x32xf32>, %d: tensor<4x32x16xf32>) -> tensor<4x16xf32> {
  // expected-error @+1 {{top_k (5) exceeds the expert count (4)}}
  %0 = tailor.moe %x, %r, %g, %g, %d {top_k = 5 : i64} : (tensor<4x16xf32>, tensor<16x4xf32>, tensor<4x16x32xf32>, tensor<4x16x32xf32>, tensor<4x32x16xf32>) -> tensor<4x16xf32>
  return %0 : tensor<4x16xf32>
}

// -----

func.func @element_types(%x: tensor<4xf32>, %u: tensor<4xf16>) -> tensor<4xf32> {
  // expected-error @+1 {{operand element type 'f16' differs from the result element type 'f32'}}
  %0 = tailor.swiglu %x, %u : (tensor<4xf32>, tensor<4xf16>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @fake_quant_bits(%w: tensor<4x3xf32>) -> tensor<4x3xf32> {
  // expected-error @+1 {{bits must be 8 or 4, not 2}}
  %0 = tailor.fake_quant %w {bits = 2 : i64, group_size = 0 : i64, symmetric = true} : (tensor<4x3xf32>) -> tensor<4x3xf32>
  return %0 : tensor<4x3xf32>
}

// -----

func.func @fake_quant_group(%w: tensor<4x3xf32>) -> tensor<4x3xf32> {
  // expected-error @+1 {{group_size 3 does not divide K = 4}}
  %0 = tailor.fake_quant %w {bits = 4 : i64, group_size = 3 : i64, symmetric = true} : (tensor<4x3xf32>) -> tensor<4x3xf32>
  return %0 : tensor<4x3xf32>
}

// -----

func.func @fake_quant_int8(%w: tensor<4x3xf32>) -> tensor<4x3xf32> {
  // expected-error @+1 {{8 bits are per output column and symmetric (group_size 0)}}
  %0 = tailor.fake_quant %w {bits = 8 : i64, group_size = 2 : i64, symmetric = true} : (tensor<4x3xf32>) -> tensor<4x3xf32>
  return %0 : tensor<4x3xf32>
}

// -----

func.func @fake_quant_rank(%w: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{expects a [K, N] weight}}
  %0 = tailor.fake_quant %w {bits = 8 : i64, group_size = 0 : i64, symmetric = true} : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @nf4_block(%codes: tensor<4x3xi8>, %absmax: tensor<2x3xf32>) -> tensor<8x3xf32> {
  // expected-error @+1 {{block_size must be positive and even, not 3}}
  %0 = tailor.nf4_dequantize %codes, %absmax {block_size = 3 : i64} : (tensor<4x3xi8>, tensor<2x3xf32>) -> tensor<8x3xf32>
  return %0 : tensor<8x3xf32>
}

// -----

func.func @nf4_absmax(%codes: tensor<4x3xi8>, %absmax: tensor<4x3xf32>) -> tensor<8x3xf32> {
  // expected-error @+1 {{absmax must be [2, 3] (blocks of 4 rows)}}
  %0 = tailor.nf4_dequantize %codes, %absmax {block_size = 4 : i64} : (tensor<4x3xi8>, tensor<4x3xf32>) -> tensor<8x3xf32>
  return %0 : tensor<8x3xf32>
}

// -----

func.func @nf4_divide(%codes: tensor<3x3xi8>, %absmax: tensor<1x3xf32>) -> tensor<6x3xf32> {
  // expected-error @+1 {{block_size 4 does not divide K = 6}}
  %0 = tailor.nf4_dequantize %codes, %absmax {block_size = 4 : i64} : (tensor<3x3xi8>, tensor<1x3xf32>) -> tensor<6x3xf32>
  return %0 : tensor<6x3xf32>
}
