// REQUIRES: tailor-export
// tailor-export is tailor-compile with --emit=onnx as its default.
// RUN: tailor-export %s --input-phase=optimize -o %t.onnx 2>&1 | FileCheck %s --check-prefix=LOG
// RUN: tailor-import %t.onnx | FileCheck %s
// RUN: tailor-export --help | FileCheck %s --check-prefix=HELP
// LOG: tailor-export: wrote {{.*}}.onnx
// CHECK: "tailor.onnx.MatMul"
// HELP: tailor-export: write a model as ONNX after LoRA merge, pruning and quantization
func.func @main_graph(%x: tensor<?x2xf32> {onnx.name = "x"}) -> (tensor<?x2xf32> {onnx.name = "y"}) {
  %w = "tailor.onnx.Constant"() <{value = dense<1.0> : tensor<2x2xf32>}> : () -> tensor<2x2xf32>
  %0 = tailor.linear %x, %w : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
  return %0 : tensor<?x2xf32>
}
