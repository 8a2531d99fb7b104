// Embedding tables: int8, one symmetric scale per row (token), with the
// linears in modes int8, int4 and w8a8; not with embeddings=false, not for
// a table named by `exclude`, not with `only` (a plan's step), not for nf4,
// not under min-elements.
// RUN: tailor-opt %s --tailor-quantize | FileCheck %s
// RUN: tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{mode=int4 group-size=2})" | FileCheck %s
// RUN: tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{mode=w8a8})" | FileCheck %s
// RUN: tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{embeddings=false})" | FileCheck %s --check-prefix=KEEP
// RUN: tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{exclude=embed})" | FileCheck %s --check-prefix=KEEP
// RUN: tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{only=head})" | FileCheck %s --check-prefix=KEEP
// RUN: tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{mode=nf4 group-size=2})" | FileCheck %s --check-prefix=KEEP
// RUN: tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{min-elements=7})" | FileCheck %s --check-prefix=KEEP
// linears=false (after a plan's steps): the table only.
// RUN: tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{linears=false})" | FileCheck %s --check-prefix=TABLES

// Row maxima 2 and 1 -> scales 2/127, 1/127; q = round_half_even(t / s):
// 1 / (2/127) = 63.5 -> 64, -2 -> -127, 0.5 -> 31.75 -> 32; 0.25 * 127 =
// 31.75 -> 32, 1 -> 127, -1 -> -127.
// CHECK-LABEL: func.func @embed
// CHECK: %[[Q:.*]] = "tailor.onnx.Constant"() <{value = dense_resource<[[BLOB:tailor_int8[_0-9]*]]> : tensor<2x3xi8>}>
// CHECK: %[[T:.*]] = quant.scast %[[Q]] : tensor<2x3xi8> to tensor<2x3x!quant.uniform<i8<-127:127>:f32:0, {0.015748031496062992,0.0078740157480314959}>>
// CHECK: tailor.embedding %[[T]], %arg0 : (tensor<2x3x!quant.uniform<i8<-127:127>:f32:0, {{.*}}>>, tensor<?xi64>) -> tensor<?x3xf32>
// CHECK: [[BLOB]]: "0x01000000408120207F81"
// TABLES-LABEL: func.func @embed
// TABLES: quant.scast %{{.*}} : tensor<2x3xi8> to tensor<2x3x!quant.uniform<i8<-127:127>:f32:0
// TABLES: tailor.linear %arg1, %{{.*}} : (tensor<?x4xf32>, tensor<4x2xf32>)
// KEEP-LABEL: func.func @embed
// KEEP: tailor.embedding %{{.*}}, %arg0 : (tensor<2x3xf32>, tensor<?xi64>) -> tensor<?x3xf32>
func.func @embed(%ids: tensor<?xi64>, %x: tensor<?x4xf32>) -> (tensor<?x3xf32>, tensor<?x2xf32>) {
  %t = "tailor.onnx.Constant"() <{value = dense<[[1.0, -2.0, 0.5], [0.25, 1.0, -1.0]]> : tensor<2x3xf32>}> : () -> tensor<2x3xf32> loc("embed.weight")
  %e = tailor.embedding %t, %ids : (tensor<2x3xf32>, tensor<?xi64>) -> tensor<?x3xf32>
  %w = "tailor.onnx.Constant"() <{value = dense<[[1.0, -2.0], [0.5, 0.25], [1.0, -1.0], [2.0, 3.0]]> : tensor<4x2xf32>}> : () -> tensor<4x2xf32> loc("head.weight")
  %y = tailor.linear %x, %w : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32>
  return %e, %y : tensor<?x3xf32>, tensor<?x2xf32>
}
