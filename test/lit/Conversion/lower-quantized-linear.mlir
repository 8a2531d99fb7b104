// RUN: tailor-opt %s --tailor-lower-to-linalg --split-input-file -verify-diagnostics | FileCheck %s

// A per-channel int8 weight: the product reads the i8 integers (linalg.matmul
// converts them in its body), then one multiply by the scales per output,
// fused with the bias.
// CHECK-LABEL: func.func @int8
// CHECK: %[[Q:.*]] = arith.constant dense<{{\[\[}}127, -127, 64], [32, 64, -127]]> : tensor<2x3xi8>
// CHECK: linalg.matmul ins(%arg0, %[[Q]] : tensor<?x2xf32>, tensor<2x3xi8>)
// CHECK: %[[S:.*]] = arith.constant dense<[0.00787401571, 0.0157480314, 0.00787401571]> : tensor<3xf32>
// CHECK: linalg.generic {{.*}} ins(%{{.*}}, %[[S]], %{{.*}} : tensor<?x3xf32>, tensor<3xf32>, tensor<3xf32>)
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK-NOT: quant.
func.func @int8(%x: tensor<?x2xf32>) -> tensor<?x3xf32> {
  %q = "tailor.onnx.Constant"() <{value = dense<[[127, -127, 64], [32, 64, -127]]> : tensor<2x3xi8>}> : () -> tensor<2x3xi8>
  %w = quant.scast %q : tensor<2x3xi8> to tensor<2x3x!quant.uniform<i8<-127:127>:f32:1, {0.0078740157480314959,0.015748031496062992,0.0078740157480314959}>>
  %b = "tailor.onnx.Constant"() <{value = dense<[1.0, 2.0, 3.0]> : tensor<3xf32>}> : () -> tensor<3xf32>
  %0 = tailor.linear %x, %w, %b : (tensor<?x2xf32>, tensor<2x3x!quant.uniform<i8<-127:127>:f32:1, {0.0078740157480314959,0.015748031496062992,0.0078740157480314959}>>, tensor<3xf32>) -> tensor<?x3xf32>
  return %0 : tensor<?x3xf32>
}

// -----

// Zero points (an imported QDQ weight): y = s * (x.q - z * sum_k x) -- one
// row sum of x, never a pass over the weight.
// CHECK-LABEL: func.func @zero_points
// CHECK: linalg.matmul
// CHECK: %[[SUM:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]
// CHECK: tensor.expand_shape %[[SUM]]
// CHECK: linalg.generic
// CHECK: arith.mulf
// CHECK: arith.subf
// CHECK: arith.mulf
func.func @zero_points(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %q = "tailor.onnx.Constant"() <{value = dense<1> : tensor<2x2xi8>}> : () -> tensor<2x2xi8>
  %w = quant.scast %q : tensor<2x2xi8> to tensor<2x2x!quant.uniform<i8:f32:1, {0.5:3,0.5:3}>>
  %0 = tailor.linear %x, %w : (tensor<?x2xf32>, tensor<2x2x!quant.uniform<i8:f32:1, {0.5:3,0.5:3}>>) -> tensor<?x2xf32>
  return %0 : tensor<?x2xf32>
}

// -----

// A weight with a scale per group of 2 rows (int4 values in i8): the
// product runs per group (the group a batch dim of the contraction, the
// integers converted in the body), then the groups are scaled and summed.
// CHECK-LABEL: func.func @grouped
// CHECK: %[[X3:.*]] = tensor.expand_shape %{{.*}} {{\[\[}}0], [1, 2]] output_shape [%{{.*}}, 2, 2] : tensor<?x4xf32> into tensor<?x2x2xf32>
// CHECK: %[[Q3:.*]] = tensor.expand_shape %{{.*}} {{\[\[}}0, 1], [2]] output_shape [2, 2, 3] : tensor<4x3xi8> into tensor<2x2x3xi8>
// CHECK: %[[P:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "reduction"]{{.*}} ins(%[[X3]], %[[Q3]] : tensor<?x2x2xf32>, tensor<2x2x3xi8>)
// CHECK: arith.sitofp
// CHECK: %[[S:.*]] = arith.constant dense<{{\[\[}}5.000000e-01, 5.000000e-01, 5.000000e-01], [2.500000e-01, 2.500000e-01, 2.500000e-01]]> : tensor<2x3xf32>
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction", "parallel"]{{.*}} ins(%[[P]], %[[S]] : tensor<?x2x3xf32>, tensor<2x3xf32>)
func.func @grouped(%x: tensor<?x4xf32>) -> tensor<?x3xf32> {
  %q = "tailor.onnx.Constant"() <{value = dense<1> : tensor<4x3xi8>}> : () -> tensor<4x3xi8>
  %w = quant.scast %q : tensor<4x3xi8> to tensor<4x3x!quant.uniform<i8<-8:7>:f32:{0:2, 1:1}, {{0.5, 0.5, 0.5}, {0.25, 0.25, 0.25}}>>
  %0 = tailor.linear %x, %w : (tensor<?x4xf32>, tensor<4x3x!quant.uniform<i8<-8:7>:f32:{0:2, 1:1}, {{0.5, 0.5, 0.5}, {0.25, 0.25, 0.25}}>>) -> tensor<?x3xf32>
  return %0 : tensor<?x3xf32>
}

// -----

// Other storage types are not lowered yet: a clear error at the linear.
func.func @uint8(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %q = "tailor.onnx.Constant"() <{value = dense<1> : tensor<2x2xi16>}> : () -> tensor<2x2xi16>
  %w = quant.scast %q : tensor<2x2xi16> to tensor<2x2x!quant.uniform<i16:f32:1, {0.5,0.5}>>
  // expected-error@+2 {{has no lowering yet for the quantized weight}}
  // expected-error@+1 {{failed to legalize}}
  %0 = tailor.linear %x, %w : (tensor<?x2xf32>, tensor<2x2x!quant.uniform<i16:f32:1, {0.5,0.5}>>) -> tensor<?x2xf32>
  return %0 : tensor<?x2xf32>
}
