// RUN: tailor-opt %s --tailor-lower-to-linalg --split-input-file --verify-diagnostics | FileCheck %s

// DequantizeLinear per axis: (x - zp) * scale, scale and zp read along axis 1.
// CHECK-DAG: #[[ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[AX:.*]] = affine_map<(d0, d1) -> (d1)>
// CHECK-LABEL: func.func @dequantize_axis
// CHECK: linalg.generic {indexing_maps = [#[[ID]], #[[AX]], #[[AX]], #[[ID]]]
// CHECK: arith.extui
// CHECK: arith.subi
// CHECK: arith.sitofp
// CHECK: arith.mulf
func.func @dequantize_axis(%x: tensor<2x3xui8>, %s: tensor<3xf32>, %z: tensor<3xui8>) -> tensor<2x3xf32> {
  %0 = "tailor.onnx.DequantizeLinear"(%x, %s, %z) {axis = 1 : i64} : (tensor<2x3xui8>, tensor<3xf32>, tensor<3xui8>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

// QuantizeLinear: round half to even, add zp, saturate to int8.
// CHECK-LABEL: func.func @quantize
// CHECK: arith.divf
// CHECK: math.roundeven
// CHECK: arith.maximumf
// CHECK: arith.minimumf
// CHECK: arith.trunci {{.*}} i32 to i8
func.func @quantize(%x: tensor<6xf32>, %s: tensor<f32>, %z: tensor<i8>) -> tensor<6xi8> {
  %0 = "tailor.onnx.QuantizeLinear"(%x, %s, %z) : (tensor<6xf32>, tensor<f32>, tensor<i8>) -> tensor<6xi8>
  return %0 : tensor<6xi8>
}

// -----

// MatMulInteger: i32 accumulation of (a - azp) * (b - bzp).
// CHECK-LABEL: func.func @matmulinteger
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]
// CHECK: arith.subi
// CHECK: arith.muli
// CHECK: arith.addi
func.func @matmulinteger(%a: tensor<4x3xui8>, %b: tensor<3x2xui8>, %az: tensor<ui8>) -> tensor<4x2xi32> {
  %0 = "tailor.onnx.MatMulInteger"(%a, %b, %az) <{operandSegmentSizes = array<i32: 1, 1, 1, 0>}> : (tensor<4x3xui8>, tensor<3x2xui8>, tensor<ui8>) -> tensor<4x2xi32>
  return %0 : tensor<4x2xi32>
}

// -----

// A 2-D b shared by every batch of a 3-D a (MatMulInteger after a
// DynamicQuantizeLinear of [batch, seq, K] activations).
// CHECK-DAG: #[[A3:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
// CHECK-DAG: #[[B2:.*]] = affine_map<(d0, d1, d2, d3) -> (d3, d2)>
// CHECK-LABEL: func.func @matmulinteger_shared_b
// CHECK: linalg.generic {indexing_maps = [#[[A3]], #[[B2]], {{.*}}iterator_types = ["parallel", "parallel", "parallel", "reduction"]
func.func @matmulinteger_shared_b(%a: tensor<2x4x3xui8>, %b: tensor<3x2xi8>, %az: tensor<ui8>) -> tensor<2x4x2xi32> {
  %0 = "tailor.onnx.MatMulInteger"(%a, %b, %az) <{operandSegmentSizes = array<i32: 1, 1, 1, 0>}> : (tensor<2x4x3xui8>, tensor<3x2xi8>, tensor<ui8>) -> tensor<2x4x2xi32>
  return %0 : tensor<2x4x2xi32>
}

// -----

func.func @matmulinteger_rank(%a: tensor<4x3xui8>, %b: tensor<2x3x2xi8>) -> tensor<2x4x2xi32> {
  // expected-error @+2 {{needs operands of one rank (2 or more), or a 2-D second operand, to be lowered}}
  // expected-error @+1 {{failed to legalize operation 'tailor.onnx.MatMulInteger'}}
  %0 = "tailor.onnx.MatMulInteger"(%a, %b) <{operandSegmentSizes = array<i32: 1, 1, 0, 0>}> : (tensor<4x3xui8>, tensor<2x3x2xi8>) -> tensor<2x4x2xi32>
  return %0 : tensor<2x4x2xi32>
}

// -----

func.func @qlinearmatmul_per_channel(%a: tensor<2x4xui8>, %as: tensor<f32>, %az: tensor<ui8>, %b: tensor<4x3xui8>, %bs: tensor<f32>, %bz: tensor<ui8>, %ys: tensor<3xf32>, %yz: tensor<ui8>) -> tensor<2x3xui8> {
  // expected-error @+2 {{needs per-tensor scales and output zero point to be lowered}}
  // expected-error @+1 {{failed to legalize operation 'tailor.onnx.QLinearMatMul'}}
  %0 = "tailor.onnx.QLinearMatMul"(%a, %as, %az, %b, %bs, %bz, %ys, %yz) : (tensor<2x4xui8>, tensor<f32>, tensor<ui8>, tensor<4x3xui8>, tensor<f32>, tensor<ui8>, tensor<3xf32>, tensor<ui8>) -> tensor<2x3xui8>
  return %0 : tensor<2x3xui8>
}

// -----

// Per-axis scales must have the axis' size (ONNX's inference does not check).
func.func @dequantize_scale_size(%q: tensor<4x8xi8>, %s: tensor<4xf32>) -> tensor<4x8xf32> {
  // expected-error @+2 {{has 4 scales or zero points for an axis of size 8}}
  // expected-error @+1 {{failed to legalize operation 'tailor.onnx.DequantizeLinear'}}
  %0 = "tailor.onnx.DequantizeLinear"(%q, %s) <{axis = 1 : i64}> : (tensor<4x8xi8>, tensor<4xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}
