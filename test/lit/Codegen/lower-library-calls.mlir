// RUN: tailor-opt %s --tailor-lower-library-calls --split-input-file -verify-diagnostics | FileCheck %s

// A micro-kernel generic on buffers becomes a call of the kernel with its
// operands as fully dynamic strided memrefs; the declaration asks for the
// C interface (memref descriptors). Two calls of different shapes share it.
#x = affine_map<(r, t, c, kb, h, i) -> (r, kb, h, i)>
#xs = affine_map<(r, t, c, kb, h, i) -> (r, kb floordiv 4)>
#w = affine_map<(r, t, c, kb, h, i) -> (t, kb, c, i)>
#ws = affine_map<(r, t, c, kb, h, i) -> (t, kb floordiv 4, c)>
#y = affine_map<(r, t, c, kb, h, i) -> (r, t, c)>
// CHECK: func.func private @tailor_q4_matmul(memref<?x?x?x?xi8, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?x?x?xi8, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?xf32, strided<[?, ?, ?], offset: ?>>, memref<?x?x?xf32, strided<[?, ?, ?], offset: ?>>) attributes {llvm.emit_c_interface}
// CHECK-NOT: func.func private @tailor_q4_matmul
// CHECK-LABEL: func.func @q4
// CHECK: memref.cast %arg0 : memref<?x16x2x4xi8> to memref<?x?x?x?xi8, strided<[?, ?, ?, ?], offset: ?>>
// CHECK: call @tailor_q4_matmul(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) : (memref<?x?x?x?xi8, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?x?x?xi8, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?xf32, strided<[?, ?, ?], offset: ?>>, memref<?x?x?xf32, strided<[?, ?, ?], offset: ?>>) -> ()
// CHECK: memref.cast %arg5 : memref<1x16x8x4xi8> to memref<?x?x?x?xi8, strided<[?, ?, ?, ?], offset: ?>>
// CHECK: call @tailor_q4_matmul
// CHECK-NOT: linalg.generic
func.func @q4(%x: memref<?x16x2x4xi8>, %xs: memref<?x4xf32>,
              %w: memref<2x16x8x4xi8>, %ws: memref<2x4x8xf32>,
              %y: memref<?x2x8xf32>, %w1: memref<1x16x8x4xi8>,
              %ws1: memref<1x4x8xf32>, %y1: memref<?x1x8xf32>) {
  linalg.generic {indexing_maps = [#x, #xs, #w, #ws, #y],
                  iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction", "reduction"],
                  library_call = "tailor_q4_matmul"}
      ins(%x, %xs, %w, %ws : memref<?x16x2x4xi8>, memref<?x4xf32>, memref<2x16x8x4xi8>, memref<2x4x8xf32>)
      outs(%y : memref<?x2x8xf32>) {
  ^bb0(%a: i8, %b: f32, %c: i8, %d: f32, %o: f32):
    %0 = arith.sitofp %a : i8 to f32
    %1 = arith.sitofp %c : i8 to f32
    %2 = arith.mulf %0, %1 : f32
    %3 = arith.mulf %b, %d : f32
    %4 = arith.mulf %2, %3 : f32
    %5 = arith.addf %o, %4 : f32
    linalg.yield %5 : f32
  }
  linalg.generic {indexing_maps = [#x, #xs, #w, #ws, #y],
                  iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction", "reduction"],
                  library_call = "tailor_q4_matmul"}
      ins(%x, %xs, %w1, %ws1 : memref<?x16x2x4xi8>, memref<?x4xf32>, memref<1x16x8x4xi8>, memref<1x4x8xf32>)
      outs(%y1 : memref<?x1x8xf32>) {
  ^bb0(%a: i8, %b: f32, %c: i8, %d: f32, %o: f32):
    %0 = arith.sitofp %a : i8 to f32
    %1 = arith.sitofp %c : i8 to f32
    %2 = arith.mulf %0, %1 : f32
    %3 = arith.mulf %b, %d : f32
    %4 = arith.mulf %2, %3 : f32
    %5 = arith.addf %o, %4 : f32
    linalg.yield %5 : f32
  }
  return
}

// -----

// Other generics, with a library_call of another library or none, stay.
// CHECK-LABEL: func.func @others
// CHECK: linalg.generic {{.*}}library_call = "my_lib"
// CHECK-NOT: call
func.func @others(%a: memref<4xf32>, %b: memref<4xf32>) {
  linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
                  iterator_types = ["parallel"], library_call = "my_lib"}
      ins(%a : memref<4xf32>) outs(%b : memref<4xf32>) {
  ^bb0(%x: f32, %o: f32):
    linalg.yield %x : f32
  }
  return
}

// -----

func.func @unknown(%a: memref<4xf32>, %b: memref<4xf32>) {
  // expected-error@+1 {{names an unknown micro-kernel 'tailor_q3_matmul'}}
  linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
                  iterator_types = ["parallel"], library_call = "tailor_q3_matmul"}
      ins(%a : memref<4xf32>) outs(%b : memref<4xf32>) {
  ^bb0(%x: f32, %o: f32):
    linalg.yield %x : f32
  }
  return
}

// -----

func.func @arity(%a: memref<4xf32>, %b: memref<4xf32>) {
  // expected-error@+1 {{tailor_q4_matmul takes 5 operands, not 2}}
  linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
                  iterator_types = ["parallel"], library_call = "tailor_q4_matmul"}
      ins(%a : memref<4xf32>) outs(%b : memref<4xf32>) {
  ^bb0(%x: f32, %o: f32):
    linalg.yield %x : f32
  }
  return
}

// -----

#m = affine_map<(i) -> (i)>
func.func @rank(%x: memref<8xi8>, %xs: memref<8xf32>, %w: memref<8xi8>,
                %ws: memref<8xf32>, %y: memref<8xf32>) {
  // expected-error@+1 {{operand 0 of tailor_q4_matmul must be a rank-4 i8 memref, not 'memref<8xi8>'}}
  linalg.generic {indexing_maps = [#m, #m, #m, #m, #m],
                  iterator_types = ["parallel"], library_call = "tailor_q4_matmul"}
      ins(%x, %xs, %w, %ws : memref<8xi8>, memref<8xf32>, memref<8xi8>, memref<8xf32>)
      outs(%y : memref<8xf32>) {
  ^bb0(%a: i8, %b: f32, %c: i8, %d: f32, %o: f32):
    linalg.yield %o : f32
  }
  return
}

// -----

func.func @tensors(%a: tensor<4xf32>, %b: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error@+1 {{calls tailor_q4_matmul on tensors: bufferize first}}
  %0 = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
                  iterator_types = ["parallel"], library_call = "tailor_q4_matmul"}
      ins(%a : tensor<4xf32>) outs(%b : tensor<4xf32>) {
  ^bb0(%x: f32, %o: f32):
    linalg.yield %x : f32
  } -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// tailor_q8_matmul (W8A8): i8 activations, i8 weights (stored u = w + 128).
#x8 = affine_map<(r, t, c, p, i) -> (r, p, i)>
#xs8 = affine_map<(r, t, c, p, i) -> (r, 0)>
#w8 = affine_map<(r, t, c, p, i) -> (t, p, c, i)>
#ws8 = affine_map<(r, t, c, p, i) -> (t, c)>
#y8 = affine_map<(r, t, c, p, i) -> (r, t, c)>
// CHECK: func.func private @tailor_q8_matmul(memref<?x?x?xi8, strided<[?, ?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?x?x?xi8, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?x?xf32, strided<[?, ?, ?], offset: ?>>) attributes {llvm.emit_c_interface}
// CHECK-LABEL: func.func @q8
// CHECK: call @tailor_q8_matmul
func.func @q8(%x: memref<?x8x4xi8>, %xs: memref<?x1xf32>,
              %w: memref<2x8x16x4xi8>, %ws: memref<2x16xf32>,
              %y: memref<?x2x16xf32>) {
  linalg.generic {indexing_maps = [#x8, #xs8, #w8, #ws8, #y8],
                  iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction"],
                  library_call = "tailor_q8_matmul"}
      ins(%x, %xs, %w, %ws : memref<?x8x4xi8>, memref<?x1xf32>, memref<2x8x16x4xi8>, memref<2x16xf32>)
      outs(%y : memref<?x2x16xf32>) {
  ^bb0(%a: i8, %b: f32, %c: i8, %d: f32, %o: f32):
    %u = arith.extui %c : i8 to i32
    %c128 = arith.constant 128 : i32
    %w0 = arith.subi %u, %c128 : i32
    %0 = arith.sitofp %a : i8 to f32
    %1 = arith.sitofp %w0 : i32 to f32
    %2 = arith.mulf %0, %1 : f32
    %3 = arith.mulf %b, %d : f32
    %4 = arith.mulf %2, %3 : f32
    %5 = arith.addf %o, %4 : f32
    linalg.yield %5 : f32
  }
  return
}

// -----

// i16 activations where the kernel takes i8: refused, naming the operand.
#x8 = affine_map<(r, t, c, p, i) -> (r, p, i)>
#xs8 = affine_map<(r, t, c, p, i) -> (r, 0)>
#w8 = affine_map<(r, t, c, p, i) -> (t, p, c, i)>
#ws8 = affine_map<(r, t, c, p, i) -> (t, c)>
#y8 = affine_map<(r, t, c, p, i) -> (r, t, c)>
func.func @q8_wrong_type(%x: memref<?x8x4xi16>, %xs: memref<?x1xf32>,
              %w: memref<2x8x16x4xi8>, %ws: memref<2x16xf32>,
              %y: memref<?x2x16xf32>) {
  // expected-error@+1 {{operand 0 of tailor_q8_matmul must be a rank-3 i8 memref, not 'memref<?x8x4xi16>'}}
  linalg.generic {indexing_maps = [#x8, #xs8, #w8, #ws8, #y8],
                  iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction"],
                  library_call = "tailor_q8_matmul"}
      ins(%x, %xs, %w, %ws : memref<?x8x4xi16>, memref<?x1xf32>, memref<2x8x16x4xi8>, memref<2x16xf32>)
      outs(%y : memref<?x2x16xf32>) {
  ^bb0(%a: i16, %b: f32, %c: i8, %d: f32, %o: f32):
    %0 = arith.sitofp %a : i16 to f32
    %1 = arith.sitofp %c : i8 to f32
    %2 = arith.mulf %0, %1 : f32
    %3 = arith.mulf %b, %d : f32
    %4 = arith.mulf %2, %3 : f32
    %5 = arith.addf %o, %4 : f32
    linalg.yield %5 : f32
  }
  return
}
