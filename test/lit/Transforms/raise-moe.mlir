// RUN: tailor-opt %s -tailor-raise -split-input-file | FileCheck %s

// A dense two-expert Mixtral block (router, top-1, renormalised weights
// scattered over the experts, weighted sum of SwiGLU experts).
// CHECK-LABEL: func @moe
// CHECK-DAG: %[[R:.*]] = "tailor.onnx.Constant"() <{value = dense<1.000000e+00> : tensor<4x2xf32>}>
// CHECK-DAG: %[[G:.*]] = "tailor.onnx.Constant"() <{value = dense_resource<moe.w_gate> : tensor<2x4x6xf32>}>
// CHECK-DAG: %[[U:.*]] = "tailor.onnx.Constant"() <{value = dense_resource<moe.w_up> : tensor<2x4x6xf32>}>
// CHECK-DAG: %[[D:.*]] = "tailor.onnx.Constant"() <{value = dense_resource<moe.w_down> : tensor<2x6x4xf32>}>
// CHECK: %[[Y:.*]] = tailor.moe %arg0, %[[R]], %[[G]], %[[U]], %[[D]] {top_k = 1 : i64}
// CHECK-NOT: tailor.onnx.TopK
// CHECK-NOT: tailor.swiglu
// CHECK: return %[[Y]]
// Expert 0's gate weight (0.5) then expert 1's (1.5), stacked in router order.
// CHECK: moe.w_gate: "0x040000000000003F0000003F0000003F0000003F0000003F0000003F0000003F0000003F0000003F0000003F0000003F0000003F0000003F0000003F0000003F0000003F0000003F0000003F0000003F0000003F0000003F0000003F0000003F0000003F0000C03F0000C03F0000C03F0000C03F0000C03F0000C03F0000C03F0000C03F0000C03F0000C03F0000C03F0000C03F0000C03F0000C03F0000C03F0000C03F0000C03F0000C03F0000C03F0000C03F0000C03F0000C03F0000C03F0000C03F"
func.func @moe(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %r = "tailor.onnx.Constant"() {value = dense<1.0> : tensor<4x2xf32>} : () -> tensor<4x2xf32>
  %g0 = "tailor.onnx.Constant"() {value = dense<[[0.5, 0.5, 0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5, 0.5, 0.5]]> : tensor<4x6xf32>} : () -> tensor<4x6xf32>
  %u0 = "tailor.onnx.Constant"() {value = dense<[[0.25, 0.5, 0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5, 0.5, 0.5]]> : tensor<4x6xf32>} : () -> tensor<4x6xf32>
  %d0 = "tailor.onnx.Constant"() {value = dense<[[0.5, 0.25, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5]]> : tensor<6x4xf32>} : () -> tensor<6x4xf32>
  %g1 = "tailor.onnx.Constant"() {value = dense<[[1.5, 1.5, 1.5, 1.5, 1.5, 1.5], [1.5, 1.5, 1.5, 1.5, 1.5, 1.5], [1.5, 1.5, 1.5, 1.5, 1.5, 1.5], [1.5, 1.5, 1.5, 1.5, 1.5, 1.5]]> : tensor<4x6xf32>} : () -> tensor<4x6xf32>
  %u1 = "tailor.onnx.Constant"() {value = dense<[[1.25, 1.5, 1.5, 1.5, 1.5, 1.5], [1.5, 1.5, 1.5, 1.5, 1.5, 1.5], [1.5, 1.5, 1.5, 1.5, 1.5, 1.5], [1.5, 1.5, 1.5, 1.5, 1.5, 1.5]]> : tensor<4x6xf32>} : () -> tensor<4x6xf32>
  %d1 = "tailor.onnx.Constant"() {value = dense<[[1.5, 1.25, 1.5, 1.5], [1.5, 1.5, 1.5, 1.5], [1.5, 1.5, 1.5, 1.5], [1.5, 1.5, 1.5, 1.5], [1.5, 1.5, 1.5, 1.5], [1.5, 1.5, 1.5, 1.5]]> : tensor<6x4xf32>} : () -> tensor<6x4xf32>
  %k = "tailor.onnx.Constant"() {value = dense<1> : tensor<1xi64>} : () -> tensor<1xi64>
  %last = "tailor.onnx.Constant"() {value = dense<-1> : tensor<1xi64>} : () -> tensor<1xi64>
  %c0 = "tailor.onnx.Constant"() {value = dense<0> : tensor<1xi64>} : () -> tensor<1xi64>
  %c1 = "tailor.onnx.Constant"() {value = dense<1> : tensor<1xi64>} : () -> tensor<1xi64>
  %c2 = "tailor.onnx.Constant"() {value = dense<2> : tensor<1xi64>} : () -> tensor<1xi64>

  %logits = "tailor.onnx.MatMul"(%x, %r) : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32>
  %probs = "tailor.onnx.Softmax"(%logits) {axis = -1 : i64} : (tensor<?x2xf32>) -> tensor<?x2xf32>
  %tw, %ti = "tailor.onnx.TopK"(%probs, %k) {axis = -1 : i64} : (tensor<?x2xf32>, tensor<1xi64>) -> (tensor<?x1xf32>, tensor<?x1xi64>)
  %sum = "tailor.onnx.ReduceSum"(%tw, %last) : (tensor<?x1xf32>, tensor<1xi64>) -> tensor<?x1xf32>
  %tn = "tailor.onnx.Div"(%tw, %sum) : (tensor<?x1xf32>, tensor<?x1xf32>) -> tensor<?x1xf32>
  %pshape = "tailor.onnx.Shape"(%probs) : (tensor<?x2xf32>) -> tensor<2xi64>
  %pz = "tailor.onnx.ConstantOfShape"(%pshape) : (tensor<2xi64>) -> tensor<?x2xf32>
  %w = "tailor.onnx.ScatterElements"(%pz, %ti, %tn) {axis = -1 : i64} : (tensor<?x2xf32>, tensor<?x1xi64>, tensor<?x1xf32>) -> tensor<?x2xf32>
  %xshape = "tailor.onnx.Shape"(%x) : (tensor<?x4xf32>) -> tensor<2xi64>
  %acc0 = "tailor.onnx.ConstantOfShape"(%xshape) : (tensor<2xi64>) -> tensor<?x4xf32>

  %w0 = "tailor.onnx.Slice"(%w, %c0, %c1, %last) {operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>} : (tensor<?x2xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<?x1xf32>
  %a0 = "tailor.onnx.MatMul"(%x, %g0) : (tensor<?x4xf32>, tensor<4x6xf32>) -> tensor<?x6xf32>
  %s0 = "tailor.onnx.Sigmoid"(%a0) : (tensor<?x6xf32>) -> tensor<?x6xf32>
  %h0 = "tailor.onnx.Mul"(%a0, %s0) : (tensor<?x6xf32>, tensor<?x6xf32>) -> tensor<?x6xf32>
  %b0 = "tailor.onnx.MatMul"(%x, %u0) : (tensor<?x4xf32>, tensor<4x6xf32>) -> tensor<?x6xf32>
  %m0 = "tailor.onnx.Mul"(%h0, %b0) : (tensor<?x6xf32>, tensor<?x6xf32>) -> tensor<?x6xf32>
  %e0 = "tailor.onnx.MatMul"(%m0, %d0) : (tensor<?x6xf32>, tensor<6x4xf32>) -> tensor<?x4xf32>
  %t0 = "tailor.onnx.Mul"(%w0, %e0) : (tensor<?x1xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %acc1 = "tailor.onnx.Add"(%acc0, %t0) : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>

  %w1 = "tailor.onnx.Slice"(%w, %c1, %c2, %last) {operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>} : (tensor<?x2xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<?x1xf32>
  %a1 = "tailor.onnx.MatMul"(%x, %g1) : (tensor<?x4xf32>, tensor<4x6xf32>) -> tensor<?x6xf32>
  %s1 = "tailor.onnx.Sigmoid"(%a1) : (tensor<?x6xf32>) -> tensor<?x6xf32>
  %h1 = "tailor.onnx.Mul"(%a1, %s1) : (tensor<?x6xf32>, tensor<?x6xf32>) -> tensor<?x6xf32>
  %b1 = "tailor.onnx.MatMul"(%x, %u1) : (tensor<?x4xf32>, tensor<4x6xf32>) -> tensor<?x6xf32>
  %m1 = "tailor.onnx.Mul"(%h1, %b1) : (tensor<?x6xf32>, tensor<?x6xf32>) -> tensor<?x6xf32>
  %e1 = "tailor.onnx.MatMul"(%m1, %d1) : (tensor<?x6xf32>, tensor<6x4xf32>) -> tensor<?x4xf32>
  %t1 = "tailor.onnx.Mul"(%e1, %w1) : (tensor<?x4xf32>, tensor<?x1xf32>) -> tensor<?x4xf32>
  %acc2 = "tailor.onnx.Add"(%acc1, %t1) : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return %acc2 : tensor<?x4xf32>
}
