// RUN: tailor-opt %s --tailor-lower-to-linalg --split-input-file | FileCheck %s
// RUN: tailor-opt %s --tailor-lower-to-linalg=attention-block=2 --split-input-file | FileCheck %s --check-prefix=BLOCK2
// RUN: tailor-opt %s --tailor-lower-to-linalg=attention-block=0 --split-input-file | FileCheck %s --check-prefix=WHOLE
// RUN: not tailor-opt %s --tailor-lower-to-linalg=attention-block=-1 --split-input-file -o /dev/null 2>&1 | FileCheck %s --check-prefix=BAD

// BAD: attention-block must be >= 0

// A dynamic key count (a KV cache): online softmax over key blocks of 256 -
// an scf.for carrying the output [B, Hq, S, Dv], the row max and the row
// sum [B, Hq, S]; each block's scores are a [.., S, <=256] tile (the block's
// keys transposed first, so that the product reads them row-wise), rescaled by
// exp(m_old - m_new) (a row with no finite score yet subtracts 0), the
// output divided by the sum after the loop. attention-block=0 keeps the
// materialised [B, H, S, T] scores (no loop). The query count is dynamic
// too: a decode step (S == 1) takes the materialised form (its scores are
// [B, H, 1, T]), other counts the loop.
// CHECK-LABEL: func.func @dynamic_keys
// CHECK: %[[S:.*]] = tensor.dim %{{.*}}, %c2 : tensor<1x4x?x16xf32>
// CHECK: %[[ONE:.*]] = arith.cmpi eq, %[[S]], %c1
// CHECK: scf.if %[[ONE]] -> (tensor<1x4x?x16xf32>) {
// CHECK-NOT: scf.for
// CHECK: math.exp
// CHECK: } else {
// CHECK: scf.for %[[J:.*]] = %{{.*}} to %{{.*}} step %c256 iter_args(%{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) -> (tensor<1x4x?x16xf32>, tensor<1x4x?xf32>, tensor<1x4x?xf32>)
// CHECK: arith.minsi
// CHECK: %[[KB:.*]] = tensor.extract_slice %{{.*}}[0, 0, %[[J]], 0]
// The block's keys are transposed to [B, Hkv, D, bc] for the scores product.
// CHECK: %[[KT:.*]] = linalg.transpose ins(%[[KB]] : tensor<1x2x?x16xf32>) outs(%{{.*}} : tensor<1x2x16x?xf32>) permutation = [0, 1, 3, 2]
// CHECK: linalg.generic {{.*}} ins(%{{.*}}, %[[KT]] : tensor<1x2x?x16xf32>, tensor<1x2x16x?xf32>)
// CHECK: arith.maximumf
// CHECK: arith.cmpf oeq
// CHECK: math.exp
// CHECK: scf.yield
// CHECK: arith.divf
// WHOLE-LABEL: func.func @dynamic_keys
// WHOLE-NOT: scf.for
// WHOLE: math.exp
func.func @dynamic_keys(%q: tensor<1x4x?x16xf32>, %k: tensor<1x2x?x16xf32>, %v: tensor<1x2x?x16xf32>) -> tensor<1x4x?x16xf32> {
  %0 = tailor.attention %q, %k, %v {causal = true} : tensor<1x4x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32> -> tensor<1x4x?x16xf32>
  return %0 : tensor<1x4x?x16xf32>
}

// -----

// Five static keys: materialised with the default block (256); blocks of 2
// slice the mask's key axis with each block (offset j, size min(2, 5 - j)),
// unless the mask broadcasts along it.
// CHECK-LABEL: func.func @static_mask
// CHECK-NOT: scf.for
// BLOCK2-LABEL: func.func @static_mask
// BLOCK2: scf.for %[[J:.*]] = %{{.*}} to %{{.*}} step %c2
// BLOCK2: tensor.extract_slice %{{.*}}[0, %{{.*}}] [3, %{{.*}}] [1, 1] : tensor<3x5xi1> to tensor<3x?xi1>
// BLOCK2: arith.select
func.func @static_mask(%q: tensor<1x2x3x8xf32>, %k: tensor<1x2x5x8xf32>, %v: tensor<1x2x5x8xf32>, %m: tensor<3x5xi1>) -> tensor<1x2x3x8xf32> {
  %0 = tailor.attention %q, %k, %v mask(%m) : tensor<1x2x3x8xf32>, tensor<1x2x5x8xf32>, tensor<1x2x5x8xf32>, tensor<3x5xi1> -> tensor<1x2x3x8xf32>
  return %0 : tensor<1x2x3x8xf32>
}
