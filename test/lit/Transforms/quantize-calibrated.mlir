// X^T X = identity for the one linear (key linear.0): no input is more
// salient than another and no error can be traded between inputs.
// RUN: %python -c "import json,struct,sys; h=[1.0 if i == j else 0.0 for i in range(4) for j in range(4)]; hd=json.dumps({'linear.0.hessian': {'dtype': 'F32', 'shape': [4, 4], 'data_offsets': [0, 64]}}).encode(); open(sys.argv[1], 'wb').write(struct.pack('<Q', len(hd)) + hd + struct.pack('<16f', *h))" %t.safetensors
// RUN: %python -c "import json,struct,sys; hd=json.dumps({'other.hessian': {'dtype': 'F32', 'shape': [1, 1], 'data_offsets': [0, 4]}}).encode(); open(sys.argv[1], 'wb').write(struct.pack('<Q', len(hd)) + hd + struct.pack('<f', 1.0))" %t.other.safetensors
// RUN: %python -c "import json,struct,sys; hd=json.dumps({'linear.0.absmax': {'dtype': 'F32', 'shape': [4], 'data_offsets': [0, 16]}}).encode(); open(sys.argv[1], 'wb').write(struct.pack('<Q', len(hd)) + hd + struct.pack('<4f', 4.0, 1.0, 9.0, 0.0))" %t.absmax.safetensors
// RUN: tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{mode=int4 group-size=2 method=gptq calibration=%t.safetensors})" | FileCheck %s --check-prefix=GPTQ
// RUN: tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{mode=w8a8 method=smoothquant calibration=%t.absmax.safetensors})" | FileCheck %s --check-prefix=SMOOTH
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{mode=int4 method=smoothquant calibration=%t.absmax.safetensors})" 2>&1 | FileCheck %s --check-prefix=SMOOTHINT4
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{mode=w8a8 method=smoothquant smooth-alpha=2 calibration=%t.absmax.safetensors})" 2>&1 | FileCheck %s --check-prefix=DAMP
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{mode=w8a8 method=smoothquant calibration=%t.safetensors})" 2>&1 | FileCheck %s --check-prefix=NOMAX
// RUN: tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{mode=int4 group-size=2 method=awq calibration=%t.safetensors})" | FileCheck %s --check-prefix=AWQ
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{mode=int4 group-size=2 method=obq calibration=%t.safetensors})" 2>&1 | FileCheck %s --check-prefix=METHOD
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{mode=int4 group-size=2 method=gptq})" 2>&1 | FileCheck %s --check-prefix=NOCAL
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{mode=int8 method=gptq calibration=%t.safetensors})" 2>&1 | FileCheck %s --check-prefix=INT8
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{mode=int4 group-size=2 method=gptq calibration=%t.missing})" 2>&1 | FileCheck %s --check-prefix=MISSING
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{mode=int4 group-size=2 method=awq calibration=%t.other.safetensors})" 2>&1 | FileCheck %s --check-prefix=NOKEY
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{mode=int4 group-size=2 method=gptq damp=0 calibration=%t.safetensors})" 2>&1 | FileCheck %s --check-prefix=DAMP

// W = [[1, -8], [-2, 7], [3, -6], [-4, 5]] as in quantize.mlir. GPTQ with
// X^T X = I has nothing to propagate (the inverse's factor is diagonal):
// exactly RTN's integers and scales.
// GPTQ: quant.scast %{{.*}} : tensor<4x2xi8> to tensor<4x2x!quant.uniform<i8<-8:7>:f32:{0:2, 1:1}, {{\{\{}}0.285714298, 1.14285719}, {0.571428597, 0.857142865}}>>
// GPTQ: tailor_int4: "0x0100000003F9F90605F9F906"
// AWQ with equal input scales (s = 1: no tailor.onnx.Mul that matters,
// but the input is divided by s all the same) and its clipping search:
// group 0, column 0 is [1, -2]; its range shrunk to 0.85 gives s = 1.7/7,
// q = 4, -8 (clamped), error 0.029^2 + 0.057^2 = 0.0041 against 0.0204 for
// the full range (s = 2/7, q = 4, -7), the least of the ten ratios.
// AWQ: %[[S:.*]] = "tailor.onnx.Constant"() <{value = dense<1.000000e+00> : tensor<4xf32>}>
// AWQ: %[[X:.*]] = "tailor.onnx.Mul"(%arg0, %[[S]])
// AWQ: %[[W:.*]] = quant.scast %{{.*}} : tensor<4x2xi8> to tensor<4x2x!quant.uniform<i8<-8:7>:f32:{0:2, 1:1}, {{\{\{}}0.242857143, 1.14285719},
// AWQ: tailor.linear %[[X]], %[[W]]
// SmoothQuant, alpha 0.5: input maxima 4, 1, 9, 0 and weight row maxima
// 8, 7, 6, 5 give s = 2/sqrt(8), 1/sqrt(7), 3/sqrt(6), 1 (an input never
// seen keeps 1); the input is multiplied by 1/s, diag(s) W is quantized
// per column: column 0 = [0.707, -0.756, 3.674, -4] -> 4/127, column 1
// = [-5.657, 2.646, -7.348, 5] -> 7.348/127.
// SMOOTH: %[[S:.*]] = "tailor.onnx.Constant"() <{value = dense<[1.41421354, 2.64575124, 0.816496551, 1.000000e+00]> : tensor<4xf32>}>
// SMOOTH: %[[X:.*]] = "tailor.onnx.Mul"(%arg0, %[[S]])
// SMOOTH: %[[W:.*]] = quant.scast %{{.*}} : tensor<4x2xi8> to tensor<4x2x!quant.uniform<i8<-127:127>:f32:1, {0.031496062992125984,0.057861966410959802}>>
// SMOOTH: tailor.linear %[[X]], %[[W]] {activation_quant = "int8_per_token"}
// SMOOTHINT4: error: tailor-quantize: method=smoothquant is for mode=w8a8
// NOMAX: error: tailor-quantize: the calibration file has no input maxima for linear 'linear.0' (4 inputs); was it calibrated on this model?
// METHOD: error: tailor-quantize: unknown method 'obq' (known: rtn, gptq, awq, smoothquant)
// NOCAL: error: tailor-quantize: method=gptq needs calibration statistics (calibration=FILE from tailor-calibrate --hessian)
// INT8: error: tailor-quantize: method=gptq is for mode=int4
// MISSING: error: tailor-quantize: cannot read calibration:
// NOKEY: error: tailor-quantize: the calibration file has no X^T X for linear 'linear.0' (4 inputs); was it calibrated on this model with --hessian?
// DAMP: error: tailor-quantize: damp must be > 0, awq-grid >= 1 and smooth-alpha in [0, 1]
func.func @int4(%x: tensor<?x4xf32>) -> tensor<?x2xf32> {
  %w = "tailor.onnx.Constant"() <{value = dense<[[1.0, -8.0], [-2.0, 7.0], [3.0, -6.0], [-4.0, 5.0]]> : tensor<4x2xf32>}> : () -> tensor<4x2xf32>
  %0 = tailor.linear %x, %w : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32>
  return %0 : tensor<?x2xf32>
}
