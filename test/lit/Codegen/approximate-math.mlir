// RUN: tailor-opt %s --pass-pipeline="builtin.module(func.func(tailor-approximate-math))" | FileCheck %s

// exp, erf and tanh become arithmetic (no libm call left); other math ops
// stay as they are.
// CHECK-LABEL: func.func @approximate
// CHECK-NOT: math.exp
// CHECK-NOT: math.erf
// CHECK-NOT: math.tanh
// CHECK: arith.mulf
// CHECK: math.sqrt
func.func @approximate(%x: f32) -> (f32, f32, f32, f32) {
  %e = math.exp %x : f32
  %r = math.erf %x : f32
  %t = math.tanh %x : f32
  %s = math.sqrt %x : f32
  return %e, %r, %t, %s : f32, f32, f32, f32
}
