// RUN: tailor-opt %s | FileCheck %s
// RUN: tailor-opt %s | tailor-opt | FileCheck %s

// CHECK-LABEL: func @decoder_pieces
func.func @decoder_pieces(%ids: tensor<1x?xi64>, %table: tensor<100x64xf32>,
                          %g: tensor<64xf32>, %wq: tensor<64x64xf32>,
                          %wk: tensor<64x32xf32>, %cos: tensor<?x16xf32>,
                          %sin: tensor<?x16xf32>, %wg: tensor<64x128xf32>,
                          %wu: tensor<64x128xf32>) -> tensor<1x?x128xf32> {
  // CHECK: tailor.embedding
  %x = tailor.embedding %table, %ids : (tensor<100x64xf32>, tensor<1x?xi64>) -> tensor<1x?x64xf32>
  // CHECK: tailor.rms_norm {{.*}} {epsilon = 9.99999974E-6 : f32}
  %n = tailor.rms_norm %x, %g {epsilon = 1.0e-5 : f32} : (tensor<1x?x64xf32>, tensor<64xf32>) -> tensor<1x?x64xf32>
  // CHECK: tailor.linear
  %q = tailor.linear %n, %wq : (tensor<1x?x64xf32>, tensor<64x64xf32>) -> tensor<1x?x64xf32>
  %k = tailor.linear %n, %wk : (tensor<1x?x64xf32>, tensor<64x32xf32>) -> tensor<1x?x32xf32>
  %qs = "tailor.onnx.Constant"() {value = dense<[1, -1, 4, 16]> : tensor<4xi64>} : () -> tensor<4xi64>
  %q4 = "tailor.onnx.Reshape"(%q, %qs) : (tensor<1x?x64xf32>, tensor<4xi64>) -> tensor<1x?x4x16xf32>
  %ks = "tailor.onnx.Constant"() {value = dense<[1, -1, 2, 16]> : tensor<4xi64>} : () -> tensor<4xi64>
  %k4 = "tailor.onnx.Reshape"(%k, %ks) : (tensor<1x?x32xf32>, tensor<4xi64>) -> tensor<1x?x2x16xf32>
  %qt = "tailor.onnx.Transpose"(%q4) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x?x4x16xf32>) -> tensor<1x4x?x16xf32>
  %kt = "tailor.onnx.Transpose"(%k4) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x?x2x16xf32>) -> tensor<1x2x?x16xf32>
  // CHECK: tailor.rotary
  %qr = tailor.rotary %qt, %cos, %sin : (tensor<1x4x?x16xf32>, tensor<?x16xf32>, tensor<?x16xf32>) -> tensor<1x4x?x16xf32>
  // CHECK: tailor.attention {{.*}} {causal = true}
  %a = tailor.attention %qr, %kt, %kt {causal = true} : tensor<1x4x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32> -> tensor<1x4x?x16xf32>
  // CHECK: tailor.swiglu
  %gate = tailor.linear %n, %wg : (tensor<1x?x64xf32>, tensor<64x128xf32>) -> tensor<1x?x128xf32>
  %up = tailor.linear %n, %wu : (tensor<1x?x64xf32>, tensor<64x128xf32>) -> tensor<1x?x128xf32>
  %s = tailor.swiglu %gate, %up : (tensor<1x?x128xf32>, tensor<1x?x128xf32>) -> tensor<1x?x128xf32>
  return %s : tensor<1x?x128xf32>
}
