// RUN: tailor-opt %s -split-input-file -verify-diagnostics

func.func @matmul_mismatch(%a: tensor<2x3xf32>, %b: tensor<4x5xf32>) -> tensor<*xf32> {
  // expected-error @+1 {{Incompatible dimensions for matrix multiplication}}
  %0 = "tailor.onnx.MatMul"(%a, %b) : (tensor<2x3xf32>, tensor<4x5xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

func.func @wrong_result_shape(%a: tensor<2x3xf32>, %b: tensor<3x4xf32>) -> tensor<2x5xf32> {
  // expected-error @+1 {{result #0 has type 'tensor<2x5xf32>', incompatible with the type ONNX infers: 'tensor<2x4xf32>'}}
  %0 = "tailor.onnx.MatMul"(%a, %b) : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x5xf32>
  return %0 : tensor<2x5xf32>
}

// -----

func.func @mixed_element_types(%a: tensor<4xf32>, %b: tensor<4xf64>) -> tensor<*xf32> {
  // expected-error @+1 {{'tailor.onnx.Add' op is invalid for ONNX: B has inconsistent type tensor(double)}}
  %0 = "tailor.onnx.Add"(%a, %b) : (tensor<4xf32>, tensor<4xf64>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

func.func @broadcast_mismatch(%a: tensor<4x3xf32>, %b: tensor<5xf32>) -> tensor<*xf32> {
  // expected-error @+1 {{'tailor.onnx.Add' op is invalid for ONNX: [ShapeInferenceError] Incompatible dimensions}}
  %0 = "tailor.onnx.Add"(%a, %b) : (tensor<4x3xf32>, tensor<5xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

func.func @axis_out_of_range(%a: tensor<4x3xf32>) -> tensor<*xf32> {
  // expected-error @+1 {{'axis' must be in [-2 , 1]. Its actual value is: 5}}
  %0 = "tailor.onnx.Softmax"(%a) {axis = 5 : i64} : (tensor<4x3xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

func.func @missing_required_attribute(%a: tensor<4xf32>) -> tensor<*xi64> {
  // expected-error @+1 {{requires attribute 'to'}}
  %0 = "tailor.onnx.Cast"(%a) : (tensor<4xf32>) -> tensor<*xi64>
  return %0 : tensor<*xi64>
}

// -----

func.func @wrong_cast_result(%a: tensor<4xf32>) -> tensor<4xf32> {
  // Cast to INT64 (7) cannot produce f32.
  // expected-error @+1 {{incompatible with the type ONNX infers: 'tensor<4xi64>'}}
  %0 = "tailor.onnx.Cast"(%a) {to = 7 : i64} : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @type_constraint(%a: tensor<4xi1>) -> tensor<4xi1> {
  // expected-error @+1 {{operand #0 must be tensor of}}
  %0 = "tailor.onnx.Tanh"(%a) : (tensor<4xi1>) -> tensor<4xi1>
  return %0 : tensor<4xi1>
}
