// RUN: tailor-opt %s --tailor-quantize --split-input-file | FileCheck %s
// RUN: tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{exclude=lm_.*})" --split-input-file | FileCheck %s --check-prefix=EXCLUDE
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{mode=int3})" --split-input-file 2>&1 | FileCheck %s --check-prefix=MODE
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{exclude=(})" --split-input-file 2>&1 | FileCheck %s --check-prefix=REGEX
// RUN: tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{mode=int4 group-size=2})" --split-input-file | FileCheck %s --check-prefix=INT4
// RUN: tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{mode=w8a8})" --split-input-file | FileCheck %s --check-prefix=W8A8
// RUN: tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{mode=int4 group-size=2 symmetric=false})" --split-input-file | FileCheck %s --check-prefix=ASYM
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{mode=int4 group-size=3})" --split-input-file 2>&1 | FileCheck %s --check-prefix=GROUP

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
// W8A8 = the int8 weights, plus per-token int8 activations on the linear.
// W8A8-LABEL: func.func @int8
// W8A8: quant.scast %{{.*}} : tensor<2x3xi8> to tensor<2x3x!quant.uniform<i8<-127:127>:f32:1, {0.0078740157480314959,0.015748031496062992,0.0078740157480314959}>>
// W8A8: tailor.linear %arg0, %{{.*}}, %{{.*}} {activation_quant = "int8_per_token"}
// W8A8: tailor_int8: "0x010000007F8140204081"
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

// MODE: error: tailor-quantize: unknown mode 'int3' (known: int8, int4, w8a8, nf4)
// GROUP: error: tailor-quantize: group-size 3 does not divide this linear's 2 inputs
// REGEX: error: tailor-quantize: exclude pattern '(' is not a valid regular expression

// -----

// int4, groups of 2 rows: W = [[1, -8], [-2, 7], [3, -6], [-4, 5]].
// Symmetric: s = max|w| / 7 per group and column (2/7, 8/7; 4/7, 6/7),
// q = round(w / s) in [-8, 7], one byte per value for now.
// Asymmetric: s = (max - min) / 15 with 0 in the range, z = round(-8 -
// min / s): column 0 of group 0 is [-2, 1]: s = 0.2, z = 2, q = 7, -8.
// CHECK-LABEL: func.func @int4
// EXCLUDE-LABEL: func.func @int4
// INT4-LABEL: func.func @int4
// INT4: quant.scast %{{.*}} : tensor<4x2xi8> to tensor<4x2x!quant.uniform<i8<-8:7>:f32:{0:2, 1:1}, {{\{\{}}0.285714298, 1.14285719}, {0.571428597, 0.857142865}}>>
// INT4: tailor_int4: "0x0100000003F9F90605F9F906"
// ASYM-LABEL: func.func @int4
// ASYM: quant.scast %{{.*}} : tensor<4x2xi8> to tensor<4x2x!quant.uniform<i8<-8:7>:f32:{0:2, 1:1}, {{\{\{}}2.000000e-01:2, 1.000000e+00}, {0.466666669:1, 0.733333349}}>>
// ASYM: tailor_int4: "0x0100000007F8F80707F8F807"
func.func @int4(%x: tensor<?x4xf32>) -> tensor<?x2xf32> {
  %w = "tailor.onnx.Constant"() <{value = dense<[[1.0, -8.0], [-2.0, 7.0], [3.0, -6.0], [-4.0, 5.0]]> : tensor<4x2xf32>}> : () -> tensor<4x2xf32>
  %0 = tailor.linear %x, %w : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32>
  return %0 : tensor<?x2xf32>
}
