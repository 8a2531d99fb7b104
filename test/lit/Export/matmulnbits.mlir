// --onnx-int4=matmulnbits: an int4 linear as ONNX Runtime's MatMulNBits
// (com.microsoft), B [N, K/G, G/2] with u = q + 8 two per byte (q = -2:
// 0x66), scales [N * K/G], zero points packed as z + 8 (column 0: 3 + 8 =
// 11, the rest 8), the bias as an Add.
// RUN: tailor-compile %S/Inputs/int4-g16.mlir --input-phase=optimize --emit=onnx --onnx-int4=matmulnbits -o %t.onnx --quiet
// RUN: %python -c "import onnx, sys; from onnx import numpy_helper; m = onnx.load(sys.argv[1]); init = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}; print([(o.domain, o.version) for o in m.opset_import]); n = [n for n in m.graph.node if n.op_type == 'MatMulNBits'][0]; print(n.domain, sorted((a.name, a.i) for a in n.attribute)); b = init[n.input[1]]; print(b.shape, b.dtype, bytes(b[0, 0]).hex()); print(init[n.input[2]].tolist()); print(init[n.input[3]].tolist()); print([x.op_type for x in m.graph.node]); print('initializers', sorted(i.name.split('/')[-1].rsplit('_', 1)[0] for i in m.graph.initializer))" %t.onnx | FileCheck %s
// Tailor imports MatMulNBits as the int4 linear it came from:
// RUN: tailor-import %t.onnx | FileCheck %s --check-prefix=IMPORT
// RUN: %python -c "import onnx, sys; from onnx import helper, TensorProto; g = helper.make_graph([helper.make_node('MatMulNBits', ['x', 'b', 's'], ['y'], name='mm', domain='com.microsoft', K=16, N=8, bits=8, block_size=16)], 'g', [helper.make_tensor_value_info('x', TensorProto.FLOAT, [1, 16])], [helper.make_tensor_value_info('y', TensorProto.FLOAT, [1, 8])], [helper.make_tensor('b', TensorProto.UINT8, [8, 1, 16], [0] * 128), helper.make_tensor('s', TensorProto.FLOAT, [8], [1.0] * 8)]); onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid('', 17), helper.make_opsetid('com.microsoft', 1)]), sys.argv[1])" %t.bits8.onnx
// RUN: not tailor-import %t.bits8.onnx 2>&1 | FileCheck %s --check-prefix=BITS
// B a graph input (not a constant), and B transposed (same count, wrong shape):
// RUN: %python -c "import onnx, sys; from onnx import helper, TensorProto; g = helper.make_graph([helper.make_node('MatMulNBits', ['x', 'b', 's'], ['y'], name='mm', domain='com.microsoft', K=16, N=8, bits=4, block_size=16)], 'g', [helper.make_tensor_value_info('x', TensorProto.FLOAT, [1, 16]), helper.make_tensor_value_info('b', TensorProto.UINT8, [8, 1, 8])], [helper.make_tensor_value_info('y', TensorProto.FLOAT, [1, 8])], [helper.make_tensor('s', TensorProto.FLOAT, [8], [1.0] * 8)]); onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid('', 17), helper.make_opsetid('com.microsoft', 1)]), sys.argv[1])" %t.input.onnx
// RUN: not tailor-import %t.input.onnx 2>&1 | FileCheck %s --check-prefix=NOTCONST
// RUN: %python -c "import onnx, sys; from onnx import helper, TensorProto; g = helper.make_graph([helper.make_node('MatMulNBits', ['x', 'b', 's'], ['y'], name='mm', domain='com.microsoft', K=16, N=8, bits=4, block_size=16)], 'g', [helper.make_tensor_value_info('x', TensorProto.FLOAT, [1, 16])], [helper.make_tensor_value_info('y', TensorProto.FLOAT, [1, 8])], [helper.make_tensor('b', TensorProto.UINT8, [8, 8], [0] * 64), helper.make_tensor('s', TensorProto.FLOAT, [8], [1.0] * 8)]); onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid('', 17), helper.make_opsetid('com.microsoft', 1)]), sys.argv[1])" %t.shape.onnx
// RUN: not tailor-import %t.shape.onnx 2>&1 | FileCheck %s --check-prefix=NOTCONST
// RUN: not tailor-compile %S/Inputs/int4-out-of-range.mlir --input-phase=optimize --emit=onnx --onnx-int4=matmulnbits -o %t.range.onnx --quiet 2>&1 | FileCheck %s --check-prefix=RANGE
// RUN: not tailor-compile %s --input-phase=optimize --emit=onnx --onnx-int4=matmulnbits -o %t.g4.onnx --quiet 2>&1 | FileCheck %s --check-prefix=GROUP
// RUN: not tailor-compile %s --input-phase=optimize --emit=onnx --onnx-int4=nf4 -o %t.bad.onnx --quiet 2>&1 | FileCheck %s --check-prefix=OPTION
// CHECK: [('', 17), ('com.microsoft', 1)]
// CHECK: com.microsoft [('K', 16), ('N', 8), ('bits', 4), ('block_size', 16)]
// CHECK: (8, 1, 8) uint8 6666666666666666
// CHECK: [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.25]
// CHECK: [11, 8, 8, 8, 8, 8, 8, 8]
// CHECK: ['MatMulNBits', 'Add', 'Identity']
// CHECK: initializers ['B', 'scales', 't', 'zero_points']
// IMPORT: %[[W:.*]] = quant.scast %{{.*}} : tensor<16x8xi8> to tensor<16x8x!quant.uniform<i8<-8:7>:f32:{0:16, 1:1}, {{\{\{}}5.000000e-01:3, 5.000000e-01, 5.000000e-01, 5.000000e-01, 5.000000e-01, 5.000000e-01, 5.000000e-01, 2.500000e-01}}>>
// IMPORT: tailor.linear %arg0, %[[W]]
// IMPORT: tailor_int4: "0x01000000FEFEFEFE
// NOTCONST: error: MatMulNBits node 'mm': B must be a constant uint8 [N, K/block, block/2]
// RANGE: error: tailor-export: the int4 weight holds values outside [-8, 7]
// BITS: error: MatMulNBits node 'mm': only bits = 4 is supported, got 8
// GROUP: error: tailor-export: MatMulNBits needs 4-bit values and a power-of-two group of at least 16 rows
// OPTION: error: --onnx-int4 must be ops or matmulnbits, not 'nf4'
func.func @main_graph(%x: tensor<?x8xf32> {onnx.name = "x"}) -> (tensor<?x8xf32> {onnx.name = "y"}) {
  %q = "tailor.onnx.Constant"() <{value = dense<-2> : tensor<8x8xi8>}> : () -> tensor<8x8xi8>
  %w = quant.scast %q : tensor<8x8xi8> to tensor<8x8x!quant.uniform<i8<-8:7>:f32:{0:4, 1:1}, {{0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5}, {0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5}}>>
  %0 = tailor.linear %x, %w : (tensor<?x8xf32>, tensor<8x8x!quant.uniform<i8<-8:7>:f32:{0:4, 1:1}, {{0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5}, {0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5}}>>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}
