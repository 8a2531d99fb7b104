// RUN: tailor-opt %s --tailor-autodiff --tailor-recompute | FileCheck %s
// RUN: tailor-opt %s --tailor-autodiff --tailor-recompute -o /dev/null 2>&1 | FileCheck %s --check-prefix=REMARK
// RUN: tailor-opt %s --tailor-autodiff --tailor-recompute="policy=every-k k=1" 2>&1 | FileCheck %s --check-prefix=EVERY
// RUN: tailor-opt %s --tailor-autodiff --tailor-recompute="policy=budget budget=600" -o /dev/null 2>&1 | FileCheck %s --check-prefix=BUDGET
// RUN: tailor-opt %s --tailor-autodiff --tailor-recompute=policy=none | FileCheck %s --check-prefix=NONE
// RUN: tailor-opt %s --tailor-autodiff --tailor-recompute --canonicalize --cse | FileCheck %s --check-prefix=CSE

// Four residual blocks h += tanh(h W_i), loss = sum(h * h). Cut points: after
// each block (the residual stream alone crosses them; the last merges with
// the Mul before the loss): 4, so sqrt keeps every 2nd as a checkpoint.
// Segments: blocks 0-1, blocks 2-3 + Mul (read first by the backward: kept),
// the ReduceSum. Blocks 0-1 are computed again where the backward reaches
// them, from barriers on their inputs, and the backward reads the copies.
// CHECK-LABEL: func.func @resnet
// CHECK-COUNT-4: "tailor.onnx.Tanh"
// CHECK-NOT: recompute_barrier
// CHECK: %[[X:.*]] = tailor.recompute_barrier %arg0
// CHECK-NEXT: %[[W0:.*]] = tailor.recompute_barrier %arg1
// CHECK-NEXT: %[[T0:.*]] = "tailor.onnx.MatMul"(%[[X]], %[[W0]])
// CHECK-NEXT: %[[U0:.*]] = "tailor.onnx.Tanh"(%[[T0]])
// CHECK-NEXT: %[[H1:.*]] = "tailor.onnx.Add"(%[[X]], %[[U0]])
// CHECK-NEXT: %[[W1:.*]] = tailor.recompute_barrier %arg2
// CHECK-NEXT: %[[T1:.*]] = "tailor.onnx.MatMul"(%[[H1]], %[[W1]])
// CHECK-NEXT: %[[U1:.*]] = "tailor.onnx.Tanh"(%[[T1]])
// CHECK: "tailor.onnx.Mul"(%[[U1]], %[[U1]])
// CHECK: "tailor.onnx.Transpose"(%[[H1]])
// CHECK: "tailor.onnx.Mul"(%[[U0]], %[[U0]])
// CHECK: return

// REMARK: remark: tailor-recompute (sqrt): 4 cut points, 3 segments, 1 recomputed (5 ops); saved activations 1.2 KB -> at most 1.2 KB

// Every cut point a checkpoint: blocks 0, 1 and 2 are recomputed one by one.
// EVERY: remark: tailor-recompute (every-k): 4 cut points, 5 segments, 3 recomputed (6 ops); saved activations 1.2 KB -> at most 896 bytes
// EVERY-COUNT-6: tailor.recompute_barrier

// BUDGET: remark: tailor-recompute (budget): 4 cut points, 3 segments, 1 recomputed (5 ops)

// NONE-NOT: recompute_barrier

// CSE does not merge the copies back into the forward: 4 + 2 tanh.
// CSE-LABEL: func.func @resnet
// CSE-COUNT-4: "tailor.onnx.Tanh"
// CSE: tailor.recompute_barrier
// CSE-COUNT-2: "tailor.onnx.Tanh"
// CSE-NOT: "tailor.onnx.Tanh"

func.func @resnet(%x: tensor<4x8xf32> {onnx.name = "x", tailor.data}, %w0: tensor<8x8xf32> {onnx.name = "w0"}, %w1: tensor<8x8xf32> {onnx.name = "w1"}, %w2: tensor<8x8xf32> {onnx.name = "w2"}, %w3: tensor<8x8xf32> {onnx.name = "w3"}) -> (tensor<f32> {onnx.name = "loss"}) {
  %t0 = "tailor.onnx.MatMul"(%x, %w0) : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %u0 = "tailor.onnx.Tanh"(%t0) : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %h1 = "tailor.onnx.Add"(%x, %u0) : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %t1 = "tailor.onnx.MatMul"(%h1, %w1) : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %u1 = "tailor.onnx.Tanh"(%t1) : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %h2 = "tailor.onnx.Add"(%h1, %u1) : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %t2 = "tailor.onnx.MatMul"(%h2, %w2) : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %u2 = "tailor.onnx.Tanh"(%t2) : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %h3 = "tailor.onnx.Add"(%h2, %u2) : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %t3 = "tailor.onnx.MatMul"(%h3, %w3) : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %u3 = "tailor.onnx.Tanh"(%t3) : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %h4 = "tailor.onnx.Add"(%h3, %u3) : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %sq = "tailor.onnx.Mul"(%h4, %h4) : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %l = "tailor.onnx.ReduceSum"(%sq) {keepdims = 0 : i64} : (tensor<4x8xf32>) -> tensor<f32>
  return %l : tensor<f32>
}
