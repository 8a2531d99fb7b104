// RUN: tailor-opt %s --tailor-early-dealloc | FileCheck %s

// A guarded end-of-block dealloc of a buffer the function does not return
// becomes an unconditional dealloc after the last use of the buffer or its
// views; the returned buffer keeps its guard.
// CHECK-LABEL: func.func @main
// CHECK: %[[A:.*]] = memref.alloc
// CHECK: %[[V:.*]] = memref.collapse_shape %[[A]]
// CHECK: call @use(%[[V]])
// CHECK-NEXT: memref.dealloc %[[A]]
// CHECK: %[[B:.*]] = memref.alloc
// CHECK: scf.if %{{.*}} {
// CHECK-NEXT: memref.dealloc %[[B]]
// CHECK-NOT: memref.dealloc %[[A]]
func.func private @use(memref<8xf32>)
func.func @main(%c: i1) -> memref<4xf32> {
  %a = memref.alloc() : memref<2x4xf32>
  %v = memref.collapse_shape %a [[0, 1]] : memref<2x4xf32> into memref<8xf32>
  call @use(%v) : (memref<8xf32>) -> ()
  %b = memref.alloc() : memref<4xf32>
  %r = memref.alloc() : memref<4xf32>
  scf.if %c {
    memref.dealloc %a : memref<2x4xf32>
  }
  scf.if %c {
    memref.dealloc %b : memref<4xf32>
  }
  return %b : memref<4xf32>
}

// An unconditional end-of-block dealloc (ownership known statically, as
// with static shapes) moves to the last use too.
// CHECK-LABEL: func.func @static_ownership
// CHECK: %[[A:.*]] = memref.alloc
// CHECK-NEXT: call @use(%[[A]])
// CHECK-NEXT: memref.dealloc %[[A]]
// CHECK-NEXT: %[[B:.*]] = memref.alloc
// CHECK-NEXT: call @use(%[[B]])
// CHECK-NEXT: memref.dealloc %[[B]]
// CHECK-NEXT: return
func.func @static_ownership() {
  %a = memref.alloc() : memref<8xf32>
  call @use(%a) : (memref<8xf32>) -> ()
  %b = memref.alloc() : memref<8xf32>
  call @use(%b) : (memref<8xf32>) -> ()
  memref.dealloc %a : memref<8xf32>
  memref.dealloc %b : memref<8xf32>
  return
}
