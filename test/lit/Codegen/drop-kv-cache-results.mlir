// RUN: tailor-opt %s --tailor-drop-kv-cache-results --split-input-file --verify-diagnostics | FileCheck %s

// Bufferized in place, the cache outputs are the cache arguments: dropped,
// the logits stay.
// CHECK-LABEL: func.func @step
// CHECK-SAME: -> memref<?x8xf32>
// CHECK: return %[[L:.*]] : memref<?x8xf32>
func.func @step(%ids: memref<?x?xi64>, %k: memref<?x2x?x4xf32>,
                %v: memref<?x2x?x4xf32>, %len: memref<i64>)
    -> (memref<?x8xf32>, memref<?x2x?x4xf32>, memref<?x2x?x4xf32>)
    attributes {tailor.kv_caches = 2 : i64, tailor.kv_results = 1 : i64} {
  %c0 = arith.constant 0 : index
  %n = memref.dim %ids, %c0 : memref<?x?xi64>
  %l = memref.alloc(%n) : memref<?x8xf32>
  return %l, %k, %v : memref<?x8xf32>, memref<?x2x?x4xf32>, memref<?x2x?x4xf32>
}

// -----

// A function without the marks is left alone.
// CHECK-LABEL: func.func @plain
// CHECK-SAME: -> (memref<4xf32>, memref<4xf32>)
func.func @plain(%a: memref<4xf32>) -> (memref<4xf32>, memref<4xf32>) {
  return %a, %a : memref<4xf32>, memref<4xf32>
}

// -----

// A cache output that is a copy (bufferization could not write in place):
// the caller's buffer would not be updated.
// expected-error @+1 {{@copied: 1 of its 2 KV caches could not be updated in place (bufferization copied them); compile with --kv-cache=concat}}
func.func @copied(%ids: memref<?x?xi64>, %k: memref<?x2x?x4xf32>,
                  %v: memref<?x2x?x4xf32>, %len: memref<i64>)
    -> (memref<?x8xf32>, memref<?x2x?x4xf32>, memref<?x2x?x4xf32>)
    attributes {tailor.kv_caches = 2 : i64, tailor.kv_results = 1 : i64} {
  %c0 = arith.constant 0 : index
  %c2 = arith.constant 2 : index
  %n = memref.dim %ids, %c0 : memref<?x?xi64>
  %l = memref.alloc(%n) : memref<?x8xf32>
  %b = memref.dim %k, %c0 : memref<?x2x?x4xf32>
  %t = memref.dim %k, %c2 : memref<?x2x?x4xf32>
  %copy = memref.alloc(%b, %t) : memref<?x2x?x4xf32>
  memref.copy %k, %copy : memref<?x2x?x4xf32> to memref<?x2x?x4xf32>
  return %l, %copy, %v : memref<?x8xf32>, memref<?x2x?x4xf32>, memref<?x2x?x4xf32>
}

// -----

// Marks that do not fit the function.
// expected-error @+1 {{@wrong: not the form tailor-kv-cache-in-place made (2 caches)}}
func.func @wrong(%ids: memref<?x?xi64>) -> (memref<4xf32>, memref<4xf32>)
    attributes {tailor.kv_caches = 2 : i64, tailor.kv_results = 1 : i64} {
  %a = memref.alloc() : memref<4xf32>
  return %a, %a : memref<4xf32>, memref<4xf32>
}
