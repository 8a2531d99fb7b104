// RUN: tailor-opt %s -tailor-raise -split-input-file | FileCheck %s

// CHECK-LABEL: func @linear_bias
// CHECK-SAME: (%[[X:.*]]: tensor<?x?x4xf32>)
// CHECK: %[[W:.*]] = "tailor.onnx.Constant"() <{value = dense<1.000000e+00> : tensor<4x3xf32>}>
// CHECK: %[[B:.*]] = "tailor.onnx.Constant"() <{value = dense<[1.000000e+00, 2.000000e+00, 3.000000e+00]> : tensor<3xf32>}>
// CHECK: %[[Y:.*]] = tailor.linear %[[X]], %[[W]], %[[B]] : (tensor<?x?x4xf32>, tensor<4x3xf32>, tensor<3xf32>) -> tensor<?x?x3xf32>
// CHECK-NOT: tailor.onnx.MatMul
// CHECK-NOT: tailor.onnx.Add
// CHECK: return %[[Y]]
func.func @linear_bias(%x: tensor<?x?x4xf32>) -> tensor<?x?x3xf32> {
  %w = "tailor.onnx.Constant"() {value = dense<1.0> : tensor<4x3xf32>} : () -> tensor<4x3xf32>
  %b = "tailor.onnx.Constant"() {value = dense<[1.0, 2.0, 3.0]> : tensor<3xf32>} : () -> tensor<3xf32>
  %0 = "tailor.onnx.MatMul"(%x, %w) : (tensor<?x?x4xf32>, tensor<4x3xf32>) -> tensor<?x?x3xf32>
  %1 = "tailor.onnx.Add"(%b, %0) : (tensor<3xf32>, tensor<?x?x3xf32>) -> tensor<?x?x3xf32>
  return %1 : tensor<?x?x3xf32>
}

// -----

// The MatMul has a second user: the bias Add stays separate.
// CHECK-LABEL: func @linear_shared
// CHECK: %[[L:.*]] = tailor.linear %{{.*}}, %{{.*}} : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
// CHECK: "tailor.onnx.Add"(%[[L]], %{{.*}})
func.func @linear_shared(%x: tensor<2x4xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>) {
  %w = "tailor.onnx.Constant"() {value = dense<1.0> : tensor<4x3xf32>} : () -> tensor<4x3xf32>
  %b = "tailor.onnx.Constant"() {value = dense<[1.0, 2.0, 3.0]> : tensor<3xf32>} : () -> tensor<3xf32>
  %0 = "tailor.onnx.MatMul"(%x, %w) : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
  %1 = "tailor.onnx.Add"(%0, %b) : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  return %0, %1 : tensor<2x3xf32>, tensor<2x3xf32>
}

// -----

// Not a linear layer: the weight is an input, or x is a vector.
// CHECK-LABEL: func @not_linear
// CHECK-NOT: tailor.linear
// CHECK: "tailor.onnx.MatMul"
// CHECK: "tailor.onnx.MatMul"
func.func @not_linear(%x: tensor<2x4xf32>, %w: tensor<4x3xf32>, %v: tensor<4xf32>) -> (tensor<2x3xf32>, tensor<3xf32>) {
  %c = "tailor.onnx.Constant"() {value = dense<1.0> : tensor<4x3xf32>} : () -> tensor<4x3xf32>
  %0 = "tailor.onnx.MatMul"(%x, %w) : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
  %1 = "tailor.onnx.MatMul"(%v, %c) : (tensor<4xf32>, tensor<4x3xf32>) -> tensor<3xf32>
  return %0, %1 : tensor<2x3xf32>, tensor<3xf32>
}

// -----

// CHECK-LABEL: func @embedding
// CHECK: tailor.embedding %{{.*}}, %{{.*}} : (tensor<10x4xf32>, tensor<?x?xi64>) -> tensor<?x?x4xf32>
func.func @embedding(%ids: tensor<?x?xi64>) -> tensor<?x?x4xf32> {
  %t = "tailor.onnx.Constant"() {value = dense<0.5> : tensor<10x4xf32>} : () -> tensor<10x4xf32>
  %0 = "tailor.onnx.Gather"(%t, %ids) {axis = 0 : i64} : (tensor<10x4xf32>, tensor<?x?xi64>) -> tensor<?x?x4xf32>
  return %0 : tensor<?x?x4xf32>
}

// -----

// Gather along axis 1 is not a token lookup.
// CHECK-LABEL: func @not_embedding
// CHECK-NOT: tailor.embedding
func.func @not_embedding(%ids: tensor<3xi64>) -> tensor<10x3xf32> {
  %t = "tailor.onnx.Constant"() {value = dense<0.5> : tensor<10x4xf32>} : () -> tensor<10x4xf32>
  %0 = "tailor.onnx.Gather"(%t, %ids) {axis = 1 : i64} : (tensor<10x4xf32>, tensor<3xi64>) -> tensor<10x3xf32>
  return %0 : tensor<10x3xf32>
}

// -----

// An ONNX QDQ weight: MatMul(x, DequantizeLinear(int8 q, scale[N], zp[N],
// axis 1)) -> linear over the integers behind a per-axis !quant.uniform
// (scales and zero points in the type); a per-tensor scale is repeated
// per column.
// CHECK-LABEL: func.func @qdq
// CHECK: %[[W:.*]] = quant.scast %{{.*}} : tensor<2x2xi8> to tensor<2x2x!quant.uniform<i8:f32:1, {5.000000e-01:1,2.500000e-01:-2}>>
// CHECK: tailor.linear %arg0, %[[W]]
// CHECK: %[[W2:.*]] = quant.scast %{{.*}} : tensor<2x2xi8> to tensor<2x2x!quant.uniform<i8:f32:1, {1.250000e-01,1.250000e-01}>>
// CHECK: tailor.linear %{{.*}}, %[[W2]]
// CHECK-NOT: DequantizeLinear
func.func @qdq(%x: tensor<3x2xf32>) -> tensor<3x2xf32> {
  %q = "tailor.onnx.Constant"() <{value = dense<[[1, 2], [3, 4]]> : tensor<2x2xi8>}> : () -> tensor<2x2xi8>
  %s = "tailor.onnx.Constant"() <{value = dense<[0.5, 0.25]> : tensor<2xf32>}> : () -> tensor<2xf32>
  %z = "tailor.onnx.Constant"() <{value = dense<[1, -2]> : tensor<2xi8>}> : () -> tensor<2xi8>
  %s2 = "tailor.onnx.Constant"() <{value = dense<0.125> : tensor<f32>}> : () -> tensor<f32>
  %w = "tailor.onnx.DequantizeLinear"(%q, %s, %z) <{axis = 1 : i64}> : (tensor<2x2xi8>, tensor<2xf32>, tensor<2xi8>) -> tensor<2x2xf32>
  %0 = "tailor.onnx.MatMul"(%x, %w) : (tensor<3x2xf32>, tensor<2x2xf32>) -> tensor<3x2xf32>
  %w2 = "tailor.onnx.DequantizeLinear"(%q, %s2) <{axis = 1 : i64}> : (tensor<2x2xi8>, tensor<f32>) -> tensor<2x2xf32>
  %1 = "tailor.onnx.MatMul"(%0, %w2) : (tensor<3x2xf32>, tensor<2x2xf32>) -> tensor<3x2xf32>
  return %1 : tensor<3x2xf32>
}

// -----

// uint8 integers and zero points (ONNX Runtime's older default) are
// shifted into int8: q = [[1, 200], [255, 0]] - 128, z = [128, 130] - 128;
// without a zero point uint8's default 0 becomes -128.
// CHECK-LABEL: func.func @qdq_uint8
// CHECK: quant.scast %{{.*}} : tensor<2x2xi8> to tensor<2x2x!quant.uniform<i8:f32:1, {5.000000e-01,2.500000e-01:2}>>
// CHECK: quant.scast %{{.*}} : tensor<2x2xi8> to tensor<2x2x!quant.uniform<i8:f32:1, {5.000000e-01:-128,2.500000e-01:-128}>>
// CHECK-NOT: DequantizeLinear
// CHECK: tailor_int8: "0x0100000081487F80"
func.func @qdq_uint8(%x: tensor<3x2xf32>) -> (tensor<3x2xf32>, tensor<3x2xf32>) {
  %q = "tailor.onnx.Constant"() <{value = dense<[[1, 200], [255, 0]]> : tensor<2x2xui8>}> : () -> tensor<2x2xui8>
  %s = "tailor.onnx.Constant"() <{value = dense<[0.5, 0.25]> : tensor<2xf32>}> : () -> tensor<2xf32>
  %z = "tailor.onnx.Constant"() <{value = dense<[128, 130]> : tensor<2xui8>}> : () -> tensor<2xui8>
  %w = "tailor.onnx.DequantizeLinear"(%q, %s, %z) <{axis = 1 : i64}> : (tensor<2x2xui8>, tensor<2xf32>, tensor<2xui8>) -> tensor<2x2xf32>
  %0 = "tailor.onnx.MatMul"(%x, %w) : (tensor<3x2xf32>, tensor<2x2xf32>) -> tensor<3x2xf32>
  %w2 = "tailor.onnx.DequantizeLinear"(%q, %s) <{axis = 1 : i64}> : (tensor<2x2xui8>, tensor<2xf32>) -> tensor<2x2xf32>
  %1 = "tailor.onnx.MatMul"(%x, %w2) : (tensor<3x2xf32>, tensor<2x2xf32>) -> tensor<3x2xf32>
  return %0, %1 : tensor<3x2xf32>, tensor<3x2xf32>
}

// -----

// Scales per input row (axis 0) are not a per-output-channel weight: the
// MatMul stays.
// CHECK-LABEL: func.func @qdq_rows
// CHECK: tailor.onnx.DequantizeLinear
// CHECK: tailor.onnx.MatMul
func.func @qdq_rows(%x: tensor<3x2xf32>) -> tensor<3x2xf32> {
  %q = "tailor.onnx.Constant"() <{value = dense<[[1, 2], [3, 4]]> : tensor<2x2xi8>}> : () -> tensor<2x2xi8>
  %s = "tailor.onnx.Constant"() <{value = dense<[0.5, 0.25]> : tensor<2xf32>}> : () -> tensor<2xf32>
  %w = "tailor.onnx.DequantizeLinear"(%q, %s) <{axis = 0 : i64}> : (tensor<2x2xi8>, tensor<2xf32>) -> tensor<2x2xf32>
  %0 = "tailor.onnx.MatMul"(%x, %w) : (tensor<3x2xf32>, tensor<2x2xf32>) -> tensor<3x2xf32>
  return %0 : tensor<3x2xf32>
}

// -----

// ONNX Runtime's dynamic quantization (quantize_dynamic): the activations
// quantized at run time by DynamicQuantizeLinear, an integer MatMul, its
// int32 sums scaled by x_scale * w_scale -> a linear over the dequantized
// activations and the int8 weight (uint8 weights shifted by -128; the
// weight's scales and zero points per output column, K = 2, N = 3).
// CHECK-LABEL: func.func @dynamic
// CHECK: %[[Q:.*]], %[[S:.*]], %[[Z:.*]] = "tailor.onnx.DynamicQuantizeLinear"
// CHECK: %[[W:.*]] = quant.scast %{{.*}} : tensor<2x3xi8> to tensor<2x3x!quant.uniform<i8:f32:1, {2.500000e-01:2,5.000000e-01:-28,1.250000e-01}>>
// CHECK: %[[X:.*]] = "tailor.onnx.DequantizeLinear"(%[[Q]], %[[S]], %[[Z]])
// CHECK: tailor.linear %[[X]], %[[W]] : (tensor<4x2xf32>, tensor<2x3x!quant.uniform
// CHECK-NOT: MatMulInteger
// CHECK-NOT: tailor.onnx.Cast
// CHECK: tailor_int8: "0x0100000081487F00807F"
func.func @dynamic(%x: tensor<4x2xf32>) -> tensor<4x3xf32> {
  %q = "tailor.onnx.Constant"() <{value = dense<[[1, 200, 255], [128, 0, 255]]> : tensor<2x3xui8>}> : () -> tensor<2x3xui8>
  %ws = "tailor.onnx.Constant"() <{value = dense<[0.25, 0.5, 0.125]> : tensor<3xf32>}> : () -> tensor<3xf32>
  %wz = "tailor.onnx.Constant"() <{value = dense<[130, 100, 128]> : tensor<3xui8>}> : () -> tensor<3xui8>
  %xq, %xs, %xz = "tailor.onnx.DynamicQuantizeLinear"(%x) : (tensor<4x2xf32>) -> (tensor<4x2xui8>, tensor<f32>, tensor<ui8>)
  %m = "tailor.onnx.MatMulInteger"(%xq, %q, %xz, %wz) <{operandSegmentSizes = array<i32: 1, 1, 1, 1>}> : (tensor<4x2xui8>, tensor<2x3xui8>, tensor<ui8>, tensor<3xui8>) -> tensor<4x3xi32>
  %c = "tailor.onnx.Cast"(%m) <{to = 1 : i64}> : (tensor<4x3xi32>) -> tensor<4x3xf32>
  %s = "tailor.onnx.Mul"(%xs, %ws) : (tensor<f32>, tensor<3xf32>) -> tensor<3xf32>
  %y = "tailor.onnx.Mul"(%c, %s) : (tensor<4x3xf32>, tensor<3xf32>) -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}

// -----

// Not the dynamic form: a weight that is not a constant; no activation
// zero point; an infinite weight scale. The MatMulIntegers stay.
// CHECK-LABEL: func.func @dynamic_not_raised
// CHECK-COUNT-3: tailor.onnx.MatMulInteger
// CHECK-NOT: tailor.linear
func.func @dynamic_not_raised(%x: tensor<3x2xf32>, %v: tensor<2x2xi8>) -> (tensor<3x2xf32>, tensor<3x2xf32>, tensor<3x2xf32>) {
  %q = "tailor.onnx.Constant"() <{value = dense<[[1, 2], [3, 4]]> : tensor<2x2xi8>}> : () -> tensor<2x2xi8>
  %ws = "tailor.onnx.Constant"() <{value = dense<0.25> : tensor<f32>}> : () -> tensor<f32>
  %inf = "tailor.onnx.Constant"() <{value = dense<0x7F800000> : tensor<f32>}> : () -> tensor<f32>
  %xq, %xs, %xz = "tailor.onnx.DynamicQuantizeLinear"(%x) : (tensor<3x2xf32>) -> (tensor<3x2xui8>, tensor<f32>, tensor<ui8>)
  %s = "tailor.onnx.Mul"(%xs, %ws) : (tensor<f32>, tensor<f32>) -> tensor<f32>
  %m0 = "tailor.onnx.MatMulInteger"(%xq, %v, %xz) <{operandSegmentSizes = array<i32: 1, 1, 1, 0>}> : (tensor<3x2xui8>, tensor<2x2xi8>, tensor<ui8>) -> tensor<3x2xi32>
  %c0 = "tailor.onnx.Cast"(%m0) <{to = 1 : i64}> : (tensor<3x2xi32>) -> tensor<3x2xf32>
  %y0 = "tailor.onnx.Mul"(%c0, %s) : (tensor<3x2xf32>, tensor<f32>) -> tensor<3x2xf32>
  %m1 = "tailor.onnx.MatMulInteger"(%xq, %q) <{operandSegmentSizes = array<i32: 1, 1, 0, 0>}> : (tensor<3x2xui8>, tensor<2x2xi8>) -> tensor<3x2xi32>
  %c1 = "tailor.onnx.Cast"(%m1) <{to = 1 : i64}> : (tensor<3x2xi32>) -> tensor<3x2xf32>
  %y1 = "tailor.onnx.Mul"(%c1, %s) : (tensor<3x2xf32>, tensor<f32>) -> tensor<3x2xf32>
  %si = "tailor.onnx.Mul"(%xs, %inf) : (tensor<f32>, tensor<f32>) -> tensor<f32>
  %m2 = "tailor.onnx.MatMulInteger"(%xq, %q, %xz) <{operandSegmentSizes = array<i32: 1, 1, 1, 0>}> : (tensor<3x2xui8>, tensor<2x2xi8>, tensor<ui8>) -> tensor<3x2xi32>
  %c2 = "tailor.onnx.Cast"(%m2) <{to = 1 : i64}> : (tensor<3x2xi32>) -> tensor<3x2xf32>
  %y2 = "tailor.onnx.Mul"(%c2, %si) : (tensor<3x2xf32>, tensor<f32>) -> tensor<3x2xf32>
  return %y0, %y1, %y2 : tensor<3x2xf32>, tensor<3x2xf32>, tensor<3x2xf32>
}

// -----

// QLinearMatMul with a constant weight (per-column scales) -> the int8
// linear between DequantizeLinear of its input and QuantizeLinear of its
// output.
// CHECK-LABEL: func.func @qlinear
// CHECK: %[[W:.*]] = quant.scast %{{.*}} : tensor<2x2xi8> to tensor<2x2x!quant.uniform<i8:f32:1, {5.000000e-01:1,2.500000e-01:-2}>>
// CHECK: %[[A:.*]] = "tailor.onnx.DequantizeLinear"(%arg0, %{{.*}}, %{{.*}}) {{.*}} -> tensor<3x2xf32>
// CHECK: %[[Y:.*]] = tailor.linear %[[A]], %[[W]]
// CHECK: "tailor.onnx.QuantizeLinear"(%[[Y]], %{{.*}}, %{{.*}}) {{.*}} : (tensor<3x2xf32>, tensor<f32>, tensor<ui8>) -> tensor<3x2xui8>
// CHECK-NOT: QLinearMatMul
func.func @qlinear(%a: tensor<3x2xui8>) -> tensor<3x2xui8> {
  %as = "tailor.onnx.Constant"() <{value = dense<0.1> : tensor<f32>}> : () -> tensor<f32>
  %az = "tailor.onnx.Constant"() <{value = dense<128> : tensor<ui8>}> : () -> tensor<ui8>
  %q = "tailor.onnx.Constant"() <{value = dense<[[1, 2], [3, 4]]> : tensor<2x2xi8>}> : () -> tensor<2x2xi8>
  %s = "tailor.onnx.Constant"() <{value = dense<[0.5, 0.25]> : tensor<2xf32>}> : () -> tensor<2xf32>
  %z = "tailor.onnx.Constant"() <{value = dense<[1, -2]> : tensor<2xi8>}> : () -> tensor<2xi8>
  %ys = "tailor.onnx.Constant"() <{value = dense<0.2> : tensor<f32>}> : () -> tensor<f32>
  %yz = "tailor.onnx.Constant"() <{value = dense<128> : tensor<ui8>}> : () -> tensor<ui8>
  %y = "tailor.onnx.QLinearMatMul"(%a, %as, %az, %q, %s, %z, %ys, %yz) : (tensor<3x2xui8>, tensor<f32>, tensor<ui8>, tensor<2x2xi8>, tensor<2xf32>, tensor<2xi8>, tensor<f32>, tensor<ui8>) -> tensor<3x2xui8>
  return %y : tensor<3x2xui8>
}

// -----

// a_scale per row (ONNX allows it): not raised (the lowering reports it).
// CHECK-LABEL: func.func @qlinear_per_row
// CHECK: tailor.onnx.QLinearMatMul
// CHECK-NOT: tailor.linear
func.func @qlinear_per_row(%a: tensor<3x2xui8>) -> tensor<3x2xui8> {
  %as = "tailor.onnx.Constant"() <{value = dense<[0.1, 0.2, 0.3]> : tensor<3xf32>}> : () -> tensor<3xf32>
  %az = "tailor.onnx.Constant"() <{value = dense<128> : tensor<ui8>}> : () -> tensor<ui8>
  %q = "tailor.onnx.Constant"() <{value = dense<[[1, 2], [3, 4]]> : tensor<2x2xi8>}> : () -> tensor<2x2xi8>
  %s = "tailor.onnx.Constant"() <{value = dense<[0.5, 0.25]> : tensor<2xf32>}> : () -> tensor<2xf32>
  %bz = "tailor.onnx.Constant"() <{value = dense<0> : tensor<i8>}> : () -> tensor<i8>
  %ys = "tailor.onnx.Constant"() <{value = dense<0.2> : tensor<f32>}> : () -> tensor<f32>
  %y = "tailor.onnx.QLinearMatMul"(%a, %as, %az, %q, %s, %bz, %ys, %az) : (tensor<3x2xui8>, tensor<3xf32>, tensor<ui8>, tensor<2x2xi8>, tensor<2xf32>, tensor<i8>, tensor<f32>, tensor<ui8>) -> tensor<3x2xui8>
  return %y : tensor<3x2xui8>
}
