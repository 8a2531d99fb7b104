// RUN: tailor-opt %s -tailor-raise -split-input-file | FileCheck %s

// CHECK-LABEL: func @swiglu
// CHECK-SAME: (%[[G:.*]]: tensor<2x8xf32>, %[[U:.*]]: tensor<2x8xf32>)
// CHECK: %[[S:.*]] = tailor.swiglu %[[G]], %[[U]]
// CHECK-NOT: tailor.onnx.Sigmoid
// CHECK: return %[[S]]
func.func @swiglu(%g: tensor<2x8xf32>, %u: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %0 = "tailor.onnx.Sigmoid"(%g) : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %1 = "tailor.onnx.Mul"(%g, %0) : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %2 = "tailor.onnx.Mul"(%1, %u) : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  return %2 : tensor<2x8xf32>
}

// -----

// SiLU alone; and x * sigmoid(y) with y != x is not SiLU.
// CHECK-LABEL: func @silu
// CHECK: tailor.silu %arg0
// CHECK: "tailor.onnx.Mul"(%arg0, %{{.*}})
func.func @silu(%x: tensor<4xf32>, %y: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %0 = "tailor.onnx.Sigmoid"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  %1 = "tailor.onnx.Mul"(%0, %x) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %2 = "tailor.onnx.Sigmoid"(%y) : (tensor<4xf32>) -> tensor<4xf32>
  %3 = "tailor.onnx.Mul"(%x, %2) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %1, %3 : tensor<4xf32>, tensor<4xf32>
}

// -----

// GPT-2's tanh GELU as PyTorch exports it at opset 17 (x^3 as x * (x * x)).
// CHECK-LABEL: func @gelu_tanh
// CHECK: %[[R:.*]] = tailor.gelu %arg0 {approximate = "tanh"}
// CHECK-NOT: tailor.onnx.Tanh
// CHECK: return %[[R]]
func.func @gelu_tanh(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %c3 = "tailor.onnx.Constant"() {value = dense<0.044715> : tensor<f32>} : () -> tensor<f32>
  %k = "tailor.onnx.Constant"() {value = dense<0.797884583> : tensor<f32>} : () -> tensor<f32>
  %one = "tailor.onnx.Constant"() {value = dense<1.0> : tensor<f32>} : () -> tensor<f32>
  %half = "tailor.onnx.Constant"() {value = dense<0.5> : tensor<f32>} : () -> tensor<f32>
  %sq = "tailor.onnx.Mul"(%x, %x) : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  %cube = "tailor.onnx.Mul"(%x, %sq) : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  %t0 = "tailor.onnx.Mul"(%c3, %cube) : (tensor<f32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  %t1 = "tailor.onnx.Add"(%x, %t0) : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  %t2 = "tailor.onnx.Mul"(%k, %t1) : (tensor<f32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  %t3 = "tailor.onnx.Tanh"(%t2) : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %t4 = "tailor.onnx.Add"(%one, %t3) : (tensor<f32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  %t5 = "tailor.onnx.Mul"(%x, %t4) : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  %t6 = "tailor.onnx.Mul"(%half, %t5) : (tensor<f32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  return %t6 : tensor<?x8xf32>
}

// -----

// The exact (erf) GELU: x * 0.5 * (1 + erf(x / sqrt 2)).
// CHECK-LABEL: func @gelu_erf
// CHECK: tailor.gelu %arg0 :
// CHECK-NOT: tailor.onnx.Erf
func.func @gelu_erf(%x: tensor<8xf32>) -> tensor<8xf32> {
  %s2 = "tailor.onnx.Constant"() {value = dense<1.41421354> : tensor<f32>} : () -> tensor<f32>
  %one = "tailor.onnx.Constant"() {value = dense<1.0> : tensor<f32>} : () -> tensor<f32>
  %half = "tailor.onnx.Constant"() {value = dense<0.5> : tensor<f32>} : () -> tensor<f32>
  %0 = "tailor.onnx.Div"(%x, %s2) : (tensor<8xf32>, tensor<f32>) -> tensor<8xf32>
  %1 = "tailor.onnx.Erf"(%0) : (tensor<8xf32>) -> tensor<8xf32>
  %2 = "tailor.onnx.Add"(%1, %one) : (tensor<8xf32>, tensor<f32>) -> tensor<8xf32>
  %3 = "tailor.onnx.Mul"(%x, %half) : (tensor<8xf32>, tensor<f32>) -> tensor<8xf32>
  %4 = "tailor.onnx.Mul"(%3, %2) : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
  return %4 : tensor<8xf32>
}

// -----

// A wrong constant (0.6 instead of 0.5) is not GELU.
// CHECK-LABEL: func @not_gelu
// CHECK-NOT: tailor.gelu
func.func @not_gelu(%x: tensor<8xf32>) -> tensor<8xf32> {
  %s2 = "tailor.onnx.Constant"() {value = dense<1.41421354> : tensor<f32>} : () -> tensor<f32>
  %one = "tailor.onnx.Constant"() {value = dense<1.0> : tensor<f32>} : () -> tensor<f32>
  %half = "tailor.onnx.Constant"() {value = dense<0.6> : tensor<f32>} : () -> tensor<f32>
  %0 = "tailor.onnx.Div"(%x, %s2) : (tensor<8xf32>, tensor<f32>) -> tensor<8xf32>
  %1 = "tailor.onnx.Erf"(%0) : (tensor<8xf32>) -> tensor<8xf32>
  %2 = "tailor.onnx.Add"(%1, %one) : (tensor<8xf32>, tensor<f32>) -> tensor<8xf32>
  %3 = "tailor.onnx.Mul"(%x, %half) : (tensor<8xf32>, tensor<f32>) -> tensor<8xf32>
  %4 = "tailor.onnx.Mul"(%3, %2) : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
  return %4 : tensor<8xf32>
}
