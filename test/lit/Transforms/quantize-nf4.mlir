// RUN: tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{mode=nf4 group-size=2})" | FileCheck %s
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{mode=nf4 group-size=3})" 2>&1 | FileCheck %s --check-prefix=ODD
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{mode=nf4 group-size=4})" 2>&1 | FileCheck %s --check-prefix=DIVIDE
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{mode=nf4 method=gptq})" 2>&1 | FileCheck %s --check-prefix=METHOD

// NF4 (bitsandbytes' blocks of group-size rows of a column): absmax per
// block (1, 1, 0.5) and each element's nearest NF4 index of w / absmax:
// column 0: 0.25 -> 10 (0.2461), -1 -> 0; column 1: 1 -> 15, 0.5 -> 12
// (0.4407 is nearer than 0.5626); column 2: -1 -> 0, 0.14 -> 9 (0.1609).
// Two per byte, the even row high: 0xA0, 0xFC, 0x09. The linear reads a
// float weight dequantized in the step.
// CHECK-LABEL: func.func @nf4
// CHECK-NOT: tensor<2x3xf32>}>
// CHECK: %[[CODES:.*]] = "tailor.onnx.Constant"() <{value = dense_resource<tailor_nf4> : tensor<1x3xi8>}>
// CHECK: %[[ABSMAX:.*]] = "tailor.onnx.Constant"() <{value = dense<{{\[\[}}1.000000e+00, 1.000000e+00, 5.000000e-01]]> : tensor<1x3xf32>}>
// CHECK: %[[W:.*]] = tailor.nf4_dequantize %[[CODES]], %[[ABSMAX]] {block_size = 2 : i64} : (tensor<1x3xi8>, tensor<1x3xf32>) -> tensor<2x3xf32>
// CHECK: tailor.linear %arg0, %[[W]] : (tensor<?x2xf32>, tensor<2x3xf32>) -> tensor<?x3xf32>
// CHECK: tailor_nf4: "0x01000000A0FC09"
// ODD: error: tailor-quantize: mode=nf4 takes method=rtn, no qat and an even group-size >= 2 (the block size), got 3
// DIVIDE: error: tailor-quantize: group-size 4 does not divide this linear's 2 inputs
// METHOD: error: tailor-quantize: mode=nf4 takes method=rtn
func.func @nf4(%x: tensor<?x2xf32>) -> tensor<?x3xf32> {
  %w = "tailor.onnx.Constant"() {value = dense<[[0.25, 1.0, -0.5], [-1.0, 0.5, 0.07]]> : tensor<2x3xf32>} : () -> tensor<2x3xf32>
  %y = tailor.linear %x, %w : (tensor<?x2xf32>, tensor<2x3xf32>) -> tensor<?x3xf32>
  return %y : tensor<?x3xf32>
}
