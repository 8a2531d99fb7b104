// RUN: tailor-opt %s --split-input-file --pass-pipeline="builtin.module(tailor-fold-fill-copies)" | FileCheck %s

// A zero-filled buffer (an outlined fill tiled for the threads) copied for
// a product, and that copy copied again for another: both copies become
// fills of their targets; the first buffer's fill stays (a product
// accumulates into it after the copies), the middle buffer's goes (nothing
// reads it any more).
// CHECK-LABEL: func.func @chain
// CHECK: call @fill_kernel(%[[C:.*]], %{{.*}})
// CHECK-NOT: memref.copy
// CHECK: linalg.fill ins(%[[C]] : f32) outs(%[[LAST:.*]] : memref<8x12x32xf32>)
// CHECK-NOT: linalg.fill
// CHECK-NOT: memref.copy
// CHECK: call @use(%[[LAST]])
// CHECK: call @use(%{{.*}})
module {
  func.func private @fill_kernel(%v: f32, %out: memref<8x384xf32>) attributes {tailor.kernel} {
    scf.forall (%i) in (8) {
      %s = memref.subview %out[%i, 0] [1, 384] [1, 1] : memref<8x384xf32> to memref<1x384xf32, strided<[384, 1], offset: ?>>
      linalg.fill ins(%v : f32) outs(%s : memref<1x384xf32, strided<[384, 1], offset: ?>>)
    }
    return
  }
  func.func private @use(%a: memref<8x12x32xf32>)
  func.func @chain() {
    %cst = arith.constant 0.0 : f32
    %a = memref.alloc() : memref<8x384xf32>
    call @fill_kernel(%cst, %a) : (f32, memref<8x384xf32>) -> ()
    %view = memref.expand_shape %a [[0], [1, 2]] output_shape [8, 12, 32] : memref<8x384xf32> into memref<8x12x32xf32>
    %b = memref.alloc() : memref<8x12x32xf32>
    memref.copy %view, %b : memref<8x12x32xf32> to memref<8x12x32xf32>
    %c = memref.alloc() : memref<8x12x32xf32>
    memref.copy %b, %c : memref<8x12x32xf32> to memref<8x12x32xf32>
    call @use(%c) : (memref<8x12x32xf32>) -> ()
    call @use(%view) : (memref<8x12x32xf32>) -> ()
    memref.dealloc %a : memref<8x384xf32>
    memref.dealloc %b : memref<8x12x32xf32>
    memref.dealloc %c : memref<8x12x32xf32>
    return
  }
}

// -----

// Something else may write the buffer before the copy (a call that takes
// it), a fill of part of it (a subview), two fills: the copies stay.
// CHECK-LABEL: func.func @kept
// CHECK-COUNT-3: memref.copy
module {
  func.func private @use(%a: memref<16xf32>)
  func.func @kept(%v: f32) {
    %a = memref.alloc() : memref<16xf32>
    linalg.fill ins(%v : f32) outs(%a : memref<16xf32>)
    call @use(%a) : (memref<16xf32>) -> ()
    %b = memref.alloc() : memref<16xf32>
    memref.copy %a, %b : memref<16xf32> to memref<16xf32>
    %p = memref.alloc() : memref<16xf32>
    %s = memref.subview %p[0] [8] [1] : memref<16xf32> to memref<8xf32, strided<[1]>>
    linalg.fill ins(%v : f32) outs(%s : memref<8xf32, strided<[1]>>)
    %q = memref.alloc() : memref<16xf32>
    memref.copy %p, %q : memref<16xf32> to memref<16xf32>
    %t = memref.alloc() : memref<16xf32>
    linalg.fill ins(%v : f32) outs(%t : memref<16xf32>)
    linalg.fill ins(%v : f32) outs(%t : memref<16xf32>)
    %u = memref.alloc() : memref<16xf32>
    memref.copy %t, %u : memref<16xf32> to memref<16xf32>
    call @use(%b) : (memref<16xf32>) -> ()
    call @use(%q) : (memref<16xf32>) -> ()
    call @use(%u) : (memref<16xf32>) -> ()
    return
  }
}
