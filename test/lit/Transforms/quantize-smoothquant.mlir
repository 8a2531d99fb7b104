// Two linears reading one input share SmoothQuant's factors (as the paper
// smooths Q, K and V together): s_k from the input maximum and the larger
// weight row maximum of both, and one x / s feeds both.
// RUN: %python -c "import json,struct,sys; hd=json.dumps({'linear.0.absmax': {'dtype': 'F32', 'shape': [2], 'data_offsets': [0, 8]}, 'linear.1.absmax': {'dtype': 'F32', 'shape': [2], 'data_offsets': [8, 16]}}).encode(); open(sys.argv[1], 'wb').write(struct.pack('<Q', len(hd)) + hd + struct.pack('<4f', 4.0, 1.0, 4.0, 1.0))" %t.safetensors
// RUN: tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{mode=w8a8 method=smoothquant calibration=%t.safetensors})" | FileCheck %s
// RUN: tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{mode=w8a8 method=smoothquant smooth-alpha=0 calibration=%t.safetensors})" | FileCheck %s --check-prefix=ALPHA0

// Input maxima 4, 1; weight row maxima max(2, 8) = 8 and max(4, 1) = 4:
// alpha 0.5 gives s = 2/sqrt(8), 1/2, so x is multiplied by sqrt(2), 2.
// With alpha = 0, s = 1/8, 1/4: x * (8, 4) and W's rows * (1/8, 1/4).
// CHECK-LABEL: func.func @shared_input
// CHECK: %[[S:.*]] = "tailor.onnx.Constant"() <{value = dense<[1.41421354, 2.000000e+00]> : tensor<2xf32>}>
// CHECK: %[[X:.*]] = "tailor.onnx.Mul"(%arg0, %[[S]])
// CHECK-NOT: tailor.onnx.Mul
// CHECK: tailor.linear %[[X]], %{{.*}} {activation_quant = "int8_per_token"}
// CHECK: tailor.linear %[[X]], %{{.*}} {activation_quant = "int8_per_token"}
// ALPHA0: "tailor.onnx.Constant"() <{value = dense<[8.000000e+00, 4.000000e+00]> : tensor<2xf32>}>
// ALPHA0-COUNT-1: tailor.onnx.Mul
func.func @shared_input(%x: tensor<?x2xf32>) -> (tensor<?x2xf32>, tensor<?x2xf32>) {
  %w1 = "tailor.onnx.Constant"() <{value = dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>}> : () -> tensor<2x2xf32>
  %w2 = "tailor.onnx.Constant"() <{value = dense<[[8.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf32>}> : () -> tensor<2x2xf32>
  %0 = tailor.linear %x, %w1 : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
  %1 = tailor.linear %x, %w2 : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
  return %0, %1 : tensor<?x2xf32>, tensor<?x2xf32>
}
