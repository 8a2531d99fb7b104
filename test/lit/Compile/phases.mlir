// tailor-compile's phases, emits and the artifact: a small model at the
// tailor level (ONNX-named arguments and results).
// RUN: tailor-compile %s --input-phase=import --compile-to=optimize --quiet | FileCheck %s --check-prefix=OPT
// RUN: tailor-compile %s --raise=false --compile-to=optimize --quiet | FileCheck %s --check-prefix=NORAISE
// RUN: tailor-compile %s --compile-to=linalg --quiet | FileCheck %s --check-prefix=LINALG
// RUN: tailor-compile %s --compile-to=llvm --quiet | FileCheck %s --check-prefix=LLVM
// RUN: tailor-compile %s --emit=header --name tiny -o - --quiet | FileCheck %s --check-prefix=HEADER
// RUN: tailor-compile %s --emit=llvm -o - --quiet | FileCheck %s --check-prefix=IR
// RUN: tailor-compile %s --emit=obj -o %t.o --quiet && llvm-nm %t.o | FileCheck %s --check-prefix=OBJ
// RUN: tailor-compile %s -O0 -o %t.so 2>&1 | FileCheck %s --check-prefix=PROGRESS
// RUN: tailor-run %t.so --dynamic-size 3 | FileCheck %s --check-prefix=EXEC
// RUN: tailor-compile %s --quantize=int8 --compile-to=optimize -o %t.q.mlir 2>&1 | FileCheck %s --check-prefix=QUANT
// RUN: FileCheck %s --check-prefix=QUANTIR < %t.q.mlir
// RUN: not tailor-compile %s --quantize=int3 --compile-to=optimize -o %t.bad.mlir 2>&1 | FileCheck %s --check-prefix=BADQUANT

// OPT-LABEL: func.func @main_graph
// OPT: tailor.linear
// OPT: tailor.onnx.Relu

// NORAISE: tailor.onnx.MatMul
// NORAISE-NOT: tailor.linear

// LINALG-LABEL: func.func @main_graph
// LINALG-NOT: tailor.onnx
// LINALG: linalg.

// LLVM: llvm.func @main_graph

// HEADER: #define TINY_NUM_INPUTS 1
// HEADER: /* input 0 'x': float32[?, 4] */
// HEADER-NEXT: #define TINY_INPUT_x 0
// HEADER-NEXT: #define TINY_INPUT_x_DTYPE 1
// HEADER-NEXT: #define TINY_INPUT_x_RANK 2
// HEADER-NEXT: #define TINY_INPUT_x_DIM1 4
// HEADER: /* output 0 'y': float32[?, 2] */

// IR-DAG: define {{.*}}ptr @tailor_model_abi()
// IR-DAG: define internal void @tailor_invoke(ptr
// IR-DAG: @main_graph

// OBJ: T tailor_model_abi

// PROGRESS: tailor-compile: import
// PROGRESS: tailor-compile: linalg
// PROGRESS: tailor-compile: machine code and link
// PROGRESS: tailor-compile: wrote {{.*}}.so (1 inputs, 1 outputs) in {{[0-9.]+}} s (import {{.*}}, linalg {{.*}}, machine code and link {{[0-9.]+}} s)

// The weights' size after compression (32 f32 bytes -> 8 i8 bytes; the
// scales live in the type).
// QUANT: tailor-compile: weights 32 B -> 8 B (constants after quantization, clean-up)
// QUANTIR: quant.scast %{{.*}} : tensor<4x2xi8> to tensor<4x2x!quant.uniform<i8<-127:127>:f32:1
// BADQUANT: error: tailor-quantize: unknown mode 'int3' (known: int8, int4, w8a8, nf4)

// EXEC: loaded {{.*}}.so (tailor-compile {{.*}} -O0
// EXEC: y: float32[3,2] =

func.func @main_graph(%x: tensor<?x4xf32> {onnx.name = "x"}) -> (tensor<?x2xf32> {onnx.name = "y"}) {
  %w = "tailor.onnx.Constant"() {value = dense<[[1.0, -1.0], [0.5, 2.0], [-0.25, 1.0], [3.0, 0.0]]> : tensor<4x2xf32>} : () -> tensor<4x2xf32>
  %0 = "tailor.onnx.MatMul"(%x, %w) : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32>
  %1 = "tailor.onnx.Relu"(%0) : (tensor<?x2xf32>) -> tensor<?x2xf32>
  return %1 : tensor<?x2xf32>
}
