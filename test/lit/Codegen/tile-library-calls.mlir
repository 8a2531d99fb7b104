// RUN: tailor-opt %s --pass-pipeline="builtin.module(func.func(tailor-tile-contractions))" | FileCheck %s
// RUN: tailor-opt %s --pass-pipeline="builtin.module(func.func(tailor-tile-contractions{threads=false}))" | FileCheck %s --check-prefix=SERIAL
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(func.func(tailor-tile-contractions{kernel-columns=12}))" 2>&1 | FileCheck %s --check-prefix=BAD

// A micro-kernel generic (library_call tailor_*): split only for the
// threads, chunks of kernel-columns = 64 columns = 8 tiles of 8 (its loop
// 1), each chunk the same generic on slices: 128 columns -> 2 chunks.
#x = affine_map<(r, t, c, kb, h, i) -> (r, kb, h, i)>
#xs = affine_map<(r, t, c, kb, h, i) -> (r, kb floordiv 4)>
#w = affine_map<(r, t, c, kb, h, i) -> (t, kb, c, i)>
#ws = affine_map<(r, t, c, kb, h, i) -> (t, kb floordiv 4, c)>
#y = affine_map<(r, t, c, kb, h, i) -> (r, t, c)>
// CHECK-LABEL: func.func @q4
// CHECK: scf.forall (%[[T:.*]]) = (0) to (16) step (8)
// CHECK: tensor.extract_slice %{{.*}}[%[[T]], 0, 0, 0] [8, 16, 8, 4] [1, 1, 1, 1] : tensor<16x16x8x4xi8> to tensor<8x16x8x4xi8>
// CHECK: tensor.extract_slice %{{.*}}[%[[T]], 0, 0] [8, 4, 8] [1, 1, 1] : tensor<16x4x8xf32> to tensor<8x4x8xf32>
// CHECK: linalg.generic {{.*}}library_call = "tailor_q4_matmul"{{.*}} outs(%{{.*}} : tensor<?x8x8xf32>)
// CHECK: tensor.parallel_insert_slice
// SERIAL-LABEL: func.func @q4
// SERIAL-NOT: scf.forall
// SERIAL: linalg.generic {{.*}}library_call = "tailor_q4_matmul"{{.*}} outs(%{{.*}} : tensor<?x16x8xf32>)
// BAD: kernel-columns must be a positive multiple of 8
func.func @q4(%x: tensor<?x16x2x4xi8>, %xs: tensor<?x4xf32>,
              %w: tensor<16x16x8x4xi8>, %ws: tensor<16x4x8xf32>,
              %y: tensor<?x16x8xf32>) -> tensor<?x16x8xf32> {
  %0 = linalg.generic {indexing_maps = [#x, #xs, #w, #ws, #y],
                  iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction", "reduction"],
                  library_call = "tailor_q4_matmul"}
      ins(%x, %xs, %w, %ws : tensor<?x16x2x4xi8>, tensor<?x4xf32>, tensor<16x16x8x4xi8>, tensor<16x4x8xf32>)
      outs(%y : tensor<?x16x8xf32>) {
  ^bb0(%a: i8, %b: f32, %c: i8, %d: f32, %o: f32):
    %0 = arith.sitofp %a : i8 to f32
    %1 = arith.sitofp %c : i8 to f32
    %2 = arith.mulf %0, %1 : f32
    %3 = arith.mulf %b, %d : f32
    %4 = arith.mulf %2, %3 : f32
    %5 = arith.addf %o, %4 : f32
    linalg.yield %5 : f32
  } -> tensor<?x16x8xf32>
  return %0 : tensor<?x16x8xf32>
}
