// RUN: tailor-opt %s --pass-pipeline="builtin.module(tailor-prune{sparsity=0.5})" --split-input-file | FileCheck %s --check-prefix=UNSTRUCTURED
// RUN: tailor-opt %s --pass-pipeline="builtin.module(tailor-prune{pattern=2:4})" --split-input-file | FileCheck %s --check-prefix=NM
// RUN: tailor-opt %s --pass-pipeline="builtin.module(tailor-prune{pattern=ffn-channels sparsity=0.5 multiple=1})" --split-input-file | FileCheck %s --check-prefix=FFN
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-prune{sparsity=1.0})" --split-input-file 2>&1 | FileCheck %s --check-prefix=SPARSITY
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-prune{sparsity=-0.1})" --split-input-file 2>&1 | FileCheck %s --check-prefix=SPARSITY
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-prune{pattern=4:2})" --split-input-file 2>&1 | FileCheck %s --check-prefix=PATTERN
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-prune{method=obs})" --split-input-file 2>&1 | FileCheck %s --check-prefix=METHOD
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-prune{method=wanda})" --split-input-file 2>&1 | FileCheck %s --check-prefix=WANDA
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-prune{method=wanda calibration=%t.missing})" --split-input-file 2>&1 | FileCheck %s --check-prefix=NOFILE

// SPARSITY: error: tailor-prune: sparsity must be in [0, 1)
// PATTERN: error: tailor-prune: unknown pattern '4:2'
// METHOD: error: tailor-prune: unknown method 'obs' (magnitude, wanda)
// WANDA: error: tailor-prune: method=wanda needs calibration statistics
// NOFILE: error: tailor-prune: cannot read calibration:

// W [4, 2] = [[1, -8], [-2, 7], [3, -6], [-4, 5]] (column 0: |1|..|4|,
// column 1: |8|..|5|). Unstructured 50%: the 4 smallest |w| (1, -2, 3, -4)
// become 0: [[0, -8], [0, 7], [0, -6], [0, 5]]. 2:4: in each column's
// group of 4 rows the 2 smallest: [[0, -8], [0, 7], [3, 0], [-4, 0]].
// UNSTRUCTURED-LABEL: func.func @magnitude
// UNSTRUCTURED: tailor_pruned: "0x0400000000000000000000C1000000000000E040000000000000C0C0000000000000A040"
// NM-LABEL: func.func @magnitude
// NM: tailor_pruned: "0x0400000000000000000000C1000000000000E0400000404000000000000080C000000000"
func.func @magnitude(%x: tensor<?x4xf32>) -> tensor<?x2xf32> {
  %w = "tailor.onnx.Constant"() <{value = dense<[[1.0, -8.0], [-2.0, 7.0], [3.0, -6.0], [-4.0, 5.0]]> : tensor<4x2xf32>}> : () -> tensor<4x2xf32>
  %0 = tailor.linear %x, %w : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32>
  return %0 : tensor<?x2xf32>
}

// -----

// A SwiGLU block with 4 hidden channels: channel scores ||Wg[:, f]|| *
// ||Wu[:, f]|| * ||Wd[f, :]|| = 1, 4, 0.25, 9 -> keep channels 1 and 3: the
// gate/up weights become [2, 2], the down weight [2, 2], the hidden shapes
// [?, 2].
// FFN-LABEL: func.func @swiglu
// FFN: %[[G:.*]] = tailor.linear %arg0, %{{.*}} : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
// FFN: %[[U:.*]] = tailor.linear %arg0, %{{.*}} : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
// FFN: %[[H:.*]] = tailor.swiglu %[[G]], %[[U]] : (tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<?x2xf32>
// FFN: tailor.linear %[[H]], %{{.*}} : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
// FFN-NOT: tensor<2x4xf32>
func.func @swiglu(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %wg = "tailor.onnx.Constant"() <{value = dense<[[1.0, 2.0, 0.5, 3.0], [0.0, 0.0, 0.0, 0.0]]> : tensor<2x4xf32>}> : () -> tensor<2x4xf32>
  %wu = "tailor.onnx.Constant"() <{value = dense<[[1.0, 2.0, 0.5, 3.0], [0.0, 0.0, 0.0, 0.0]]> : tensor<2x4xf32>}> : () -> tensor<2x4xf32>
  %wd = "tailor.onnx.Constant"() <{value = dense<[[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]]> : tensor<4x2xf32>}> : () -> tensor<4x2xf32>
  %g = tailor.linear %x, %wg : (tensor<?x2xf32>, tensor<2x4xf32>) -> tensor<?x4xf32>
  %u = tailor.linear %x, %wu : (tensor<?x2xf32>, tensor<2x4xf32>) -> tensor<?x4xf32>
  %h = tailor.swiglu %g, %u : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %y = tailor.linear %h, %wd : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}
