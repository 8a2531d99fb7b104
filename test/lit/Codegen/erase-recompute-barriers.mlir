// RUN: tailor-opt %s --tailor-erase-recompute-barriers | FileCheck %s

// Each barrier becomes its operand.
// CHECK-LABEL: func.func @f
// CHECK-NOT: recompute_barrier
// CHECK: %[[C:.*]] = call @k(%arg0)
// CHECK: return %[[C]]
func.func private @k(tensor<4xf32>) -> tensor<4xf32>
func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  %b = tailor.recompute_barrier %x : tensor<4xf32>
  %c = call @k(%b) : (tensor<4xf32>) -> tensor<4xf32>
  return %c : tensor<4xf32>
}
