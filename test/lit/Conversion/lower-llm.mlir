// RUN: tailor-opt %s --tailor-lower-to-linalg --split-input-file --verify-diagnostics | FileCheck %s

// rotate_half read with tensor.extract (partner d +- D/2, negated below
// D/2), then x*cos + rot*sin with cos/sin broadcast.
// CHECK-LABEL: func.func @rotary
// CHECK: linalg.generic
// CHECK: arith.cmpi ult
// CHECK: tensor.extract
// CHECK: arith.negf
// CHECK: linalg.generic
// CHECK: arith.mulf
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK-NOT: tailor.rotary
func.func @rotary(%x: tensor<1x4x?x16xf32>, %c: tensor<?x16xf32>, %s: tensor<?x16xf32>) -> tensor<1x4x?x16xf32> {
  %0 = tailor.rotary %x, %c, %s : (tensor<1x4x?x16xf32>, tensor<?x16xf32>, tensor<?x16xf32>) -> tensor<1x4x?x16xf32>
  return %0 : tensor<1x4x?x16xf32>
}

// -----

// Interleaved pairs: partner d xor 1 (odd d reads d-1).
// CHECK-LABEL: func.func @rotary_interleaved
// CHECK: arith.remui
// CHECK: tensor.extract
func.func @rotary_interleaved(%x: tensor<2x8xf32>, %c: tensor<2x8xf32>, %s: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %0 = tailor.rotary %x, %c, %s {interleaved = true} : (tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// -----

// Grouped-query attention with a KV cache: the cache is concatenated, the 4
// query heads regroup as [B, 2 kv heads, 2*S, D] (no repeat_kv copy), both
// products are batched contractions, the causal mask is bottom-right aligned.
// CHECK-LABEL: func.func @attention_gqa
// CHECK: tensor.insert_slice
// CHECK: tensor.insert_slice
// CHECK: tensor.expand_shape {{.*}} {{\[\[}}0], [1, 2], [3], [4]]
// CHECK: tensor.collapse_shape {{.*}} {{\[\[}}0], [1], [2, 3], [4]]
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]
// CHECK: arith.cmpi sgt
// CHECK: math.exp
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]
// CHECK-NOT: tailor.attention
func.func @attention_gqa(%q: tensor<1x4x?x16xf32>, %k: tensor<1x2x?x16xf32>, %v: tensor<1x2x?x16xf32>,
                         %pk: tensor<1x2x?x16xf32>, %pv: tensor<1x2x?x16xf32>) -> tensor<1x4x?x16xf32> {
  %0 = tailor.attention %q, %k, %v past(%pk, %pv) {causal = true} : tensor<1x4x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32> past tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32> -> tensor<1x4x?x16xf32>
  return %0 : tensor<1x4x?x16xf32>
}

// -----

// A boolean mask keeps the scores where it is true, -inf elsewhere.
// CHECK-LABEL: func.func @attention_mask
// CHECK: arith.select
// CHECK: math.exp
func.func @attention_mask(%q: tensor<1x2x3x8xf32>, %k: tensor<1x2x5x8xf32>, %v: tensor<1x2x5x8xf32>, %m: tensor<3x5xi1>) -> tensor<1x2x3x8xf32> {
  %0 = tailor.attention %q, %k, %v mask(%m) : tensor<1x2x3x8xf32>, tensor<1x2x5x8xf32>, tensor<1x2x5x8xf32>, tensor<3x5xi1> -> tensor<1x2x3x8xf32>
  return %0 : tensor<1x2x3x8xf32>
}

// -----

// Top-k by rank counting (ties: lower expert first), renormalised, dense
// experts weighted per token.
// CHECK-LABEL: func.func @moe
// CHECK: math.exp
// CHECK: arith.cmpf ogt
// CHECK: arith.cmpf oeq
// CHECK: arith.cmpi ult
// CHECK: arith.divf
// CHECK: linalg.generic
// CHECK-NOT: tailor.moe
func.func @moe(%x: tensor<?x8xf32>, %r: tensor<8x4xf32>, %g: tensor<4x8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>) -> tensor<?x8xf32> {
  %0 = tailor.moe %x, %r, %g, %u, %d {top_k = 2 : i64} : (tensor<?x8xf32>, tensor<8x4xf32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

func.func @attention_dynamic_heads(%q: tensor<1x?x3x8xf32>, %k: tensor<1x?x5x8xf32>, %v: tensor<1x?x5x8xf32>) -> tensor<1x?x3x8xf32> {
  // expected-error @+2 {{needs static head counts with Hq a multiple of Hkv to be lowered}}
  // expected-error @+1 {{failed to legalize operation 'tailor.attention'}}
  %0 = tailor.attention %q, %k, %v : tensor<1x?x3x8xf32>, tensor<1x?x5x8xf32>, tensor<1x?x5x8xf32> -> tensor<1x?x3x8xf32>
  return %0 : tensor<1x?x3x8xf32>
}
