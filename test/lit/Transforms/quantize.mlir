// RUN: tailor-opt %s --tailor-quantize --split-input-file | FileCheck %s
// RUN: tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{exclude=lm_.*})" --split-input-file | FileCheck %s --check-prefix=EXCLUDE
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{mode=int3})" --split-input-file 2>&1 | FileCheck %s --check-prefix=MODE
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{exclude=(})" --split-input-file 2>&1 | FileCheck %s --check-prefix=REGEX

// int8 per output channel, symmetric: column maxima 1, 2, 1 -> scales
// 1/127, 2/127, 1/127; q = round_half_even(W / s): 0.25 * 127 = 31.75 -> 32,
// 1 / (2/127) = 63.5 -> 64 (ties to even), 0.5 * 127 = 63.5 -> 64.
// CHECK-LABEL: func.func @int8
// CHECK-NOT: tensor<2x3xf32>
// CHECK: %[[Q:.*]] = "tailor.onnx.Constant"() <{value = dense_resource<tailor_int8> : tensor<2x3xi8>}>
// CHECK: %[[W:.*]] = quant.scast %[[Q]] : tensor<2x3xi8> to tensor<2x3x!quant.uniform<i8<-127:127>:f32:1, {0.0078740157480314959,0.015748031496062992,0.0078740157480314959}>>
// CHECK: tailor.linear %arg0, %[[W]], %{{.*}} : (tensor<?x2xf32>, tensor<2x3x!quant.uniform
// CHECK: tailor_int8: "0x010000007F8140204081"
// EXCLUDE-LABEL: func.func @int8
// EXCLUDE: quant.scast
func.func @int8(%x: tensor<?x2xf32>) -> tensor<?x3xf32> {
  %w = "tailor.onnx.Constant"() <{value = dense<[[1.0, -2.0, 0.5], [0.25, 1.0, -1.0]]> : tensor<2x3xf32>}> : () -> tensor<2x3xf32>
  %b = "tailor.onnx.Constant"() <{value = dense<[1.0, 2.0, 3.0]> : tensor<3xf32>}> : () -> tensor<3xf32>
  %0 = tailor.linear %x, %w, %b : (tensor<?x2xf32>, tensor<2x3xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  return %0 : tensor<?x3xf32>
}

// -----

// A weight shared by two linears is quantized once; a linear named by
// `exclude` (here its MatMul node's scope, lm_head) and a non-constant
// weight stay in f32.
// CHECK-LABEL: func.func @shared
// CHECK-COUNT-1: quant.scast
// CHECK-NOT: quant.scast
// EXCLUDE-LABEL: func.func @shared
// EXCLUDE-NOT: quant.scast
func.func @shared(%x: tensor<4x2xf32>, %v: tensor<2x2xf32>) -> (tensor<4x2xf32>, tensor<4x2xf32>, tensor<4x2xf32>) {
  %w = "tailor.onnx.Constant"() <{value = dense<1.0> : tensor<2x2xf32>}> : () -> tensor<2x2xf32>
  %0 = tailor.linear %x, %w : (tensor<4x2xf32>, tensor<2x2xf32>) -> tensor<4x2xf32> loc("/lm_head/MatMul")
  %1 = tailor.linear %x, %w : (tensor<4x2xf32>, tensor<2x2xf32>) -> tensor<4x2xf32> loc("/lm_head/MatMul_1")
  %2 = tailor.linear %x, %v : (tensor<4x2xf32>, tensor<2x2xf32>) -> tensor<4x2xf32>
  return %0, %1, %2 : tensor<4x2xf32>, tensor<4x2xf32>, tensor<4x2xf32>
}

// MODE: error: tailor-quantize: unknown mode 'int3' (known: int8)
// REGEX: error: tailor-quantize: exclude pattern '(' is not a valid regular expression
