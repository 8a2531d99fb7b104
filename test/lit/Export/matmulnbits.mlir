// --onnx-int4=matmulnbits: an int4 linear as ONNX Runtime's MatMulNBits
// (com.microsoft), B [N, K/G, G/2] with u = q + 8 two per byte (q = -2:
// 0x66), scales [N * K/G], zero points packed as z + 8 (column 0: 3 + 8 =
// 11, the rest 8), the bias as an Add.
// RUN: tailor-compile %S/Inputs/int4-g16.mlir --input-phase=optimize --emit=onnx --onnx-int4=matmulnbits -o %t.onnx --quiet
// RUN: %python -c "import onnx, sys; from onnx import numpy_helper; m = onnx.load(sys.argv[1]); init = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}; print([(o.domain, o.version) for o in m.opset_import]); n = [n for n in m.graph.node if n.op_type == 'MatMulNBits'][0]; print(n.domain, sorted((a.name, a.i) for a in n.attribute)); b = init[n.input[1]]; print(b.shape, b.dtype, bytes(b[0, 0]).hex()); print(init[n.input[2]].tolist()); print(init[n.input[3]].tolist()); print([x.op_type for x in m.graph.node])" %t.onnx | FileCheck %s
// RUN: not tailor-compile %s --input-phase=optimize --emit=onnx --onnx-int4=matmulnbits -o %t.g4.onnx --quiet 2>&1 | FileCheck %s --check-prefix=GROUP
// RUN: not tailor-compile %s --input-phase=optimize --emit=onnx --onnx-int4=nf4 -o %t.bad.onnx --quiet 2>&1 | FileCheck %s --check-prefix=OPTION
// CHECK: [('', 17), ('com.microsoft', 1)]
// CHECK: com.microsoft [('K', 16), ('N', 8), ('bits', 4), ('block_size', 16)]
// CHECK: (8, 1, 8) uint8 6666666666666666
// CHECK: [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.25]
// CHECK: [11, 8, 8, 8, 8, 8, 8, 8]
// CHECK: ['MatMulNBits', 'Add', 'Identity']
// GROUP: error: tailor-export: MatMulNBits needs 4-bit values and a power-of-two group of at least 16 rows
// OPTION: error: --onnx-int4 must be ops or matmulnbits, not 'nf4'
func.func @main_graph(%x: tensor<?x8xf32> {onnx.name = "x"}) -> (tensor<?x8xf32> {onnx.name = "y"}) {
  %q = "tailor.onnx.Constant"() <{value = dense<-2> : tensor<8x8xi8>}> : () -> tensor<8x8xi8>
  %w = quant.scast %q : tensor<8x8xi8> to tensor<8x8x!quant.uniform<i8<-8:7>:f32:{0:4, 1:1}, {{0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5}, {0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5}}>>
  %0 = tailor.linear %x, %w : (tensor<?x8xf32>, tensor<8x8x!quant.uniform<i8<-8:7>:f32:{0:4, 1:1}, {{0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5}, {0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5}}>>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}
