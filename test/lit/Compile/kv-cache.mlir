// --kv-cache: a decoder step's Concat(past, new) -> present becomes an
// in-place insert into a cache with room (default), or stays a copy.
// RUN: tailor-compile %s --compile-to=linalg --quiet | FileCheck %s --check-prefix=INPLACE
// RUN: tailor-compile %s --compile-to=linalg --kv-cache=concat --quiet | FileCheck %s --check-prefix=CONCAT
// RUN: tailor-compile %s --emit=header --name step -o - --quiet | FileCheck %s --check-prefix=HEADER
// RUN: tailor-compile %s -o %t.so --quiet && tailor-run %t.so --dynamic-size 3 > %t.out
// RUN: FileCheck %s --check-prefix=EXEC < %t.out
// RUN: tailor-compile %s -o %t.concat.so --kv-cache=concat --quiet && tailor-run %t.concat.so --dynamic-size 3 > %t.concat.out
// RUN: grep -v loaded %t.out > %t.a && grep -v loaded %t.concat.out > %t.b && diff %t.a %t.b
// RUN: not tailor-compile %s --kv-cache=copy -o %t.bad.so 2>&1 | FileCheck %s --check-prefix=BAD

// INPLACE-LABEL: func.func @main_graph
// INPLACE-SAME: %arg2: tensor<i64> {onnx.name = "tailor.cache_length"}
// INPLACE-SAME: tailor.kv_caches = 1
// INPLACE: tensor.insert_slice %{{.*}} into %arg1[0, 0, %{{.*}}, 0]
// INPLACE-NOT: tensor.insert_slice %arg1

// CONCAT-LABEL: func.func @main_graph
// CONCAT-NOT: tailor.cache_length
// CONCAT: tensor.insert_slice %arg1 into

// The header keeps the model's own signature (the length is the runtime's).
// HEADER-NOT: cache_length
// HEADER: past_key

// tailor_model_run copies the past into a cache and returns the present:
// the same outputs as the copying form on the same (seeded) inputs.
// EXEC: present_key
// EXEC-SAME: float32[3,1,6,2]

// BAD: Cannot find option named 'copy'
func.func @main_graph(%ids: tensor<?x?xi64> {onnx.name = "input_ids"},
                      %past: tensor<?x1x?x2xf32> {onnx.name = "past_key"})
    -> (tensor<?x1x2xf32> {onnx.name = "logits"},
        tensor<?x1x?x2xf32> {onnx.name = "present_key"}) {
  %axes = "tailor.onnx.Constant"() {value = dense<[1, 3]> : tensor<2xi64>} : () -> tensor<2xi64>
  %sum = "tailor.onnx.Constant"() {value = dense<[2]> : tensor<1xi64>} : () -> tensor<1xi64>
  %f = "tailor.onnx.Cast"(%ids) {to = 1 : i64} : (tensor<?x?xi64>) -> tensor<?x?xf32>
  %u = "tailor.onnx.Unsqueeze"(%f, %axes) : (tensor<?x?xf32>, tensor<2xi64>) -> tensor<?x1x?x1xf32>
  %k = "tailor.onnx.Concat"(%u, %u) {axis = 3 : i64} : (tensor<?x1x?x1xf32>, tensor<?x1x?x1xf32>) -> tensor<?x1x?x2xf32>
  %present = "tailor.onnx.Concat"(%past, %k) {axis = 2 : i64} : (tensor<?x1x?x2xf32>, tensor<?x1x?x2xf32>) -> tensor<?x1x?x2xf32>
  %logits = "tailor.onnx.ReduceSum"(%present, %sum) {keepdims = 0 : i64} : (tensor<?x1x?x2xf32>, tensor<1xi64>) -> tensor<?x1x2xf32>
  return %logits, %present : tensor<?x1x2xf32>, tensor<?x1x?x2xf32>
}
