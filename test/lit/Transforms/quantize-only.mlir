// `only` restricts tailor-quantize to the linears whose module name matches;
// a per-layer plan runs the pass once per setting (tailor-compile --max-kl,
// --quantize-plan).
// RUN: tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{only=layers\.0\.up})" | FileCheck %s --check-prefix=ONLY
// RUN: tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{mode=int4 group-size=2 only=layers\.0\.up},tailor-quantize{mode=int8 only=layers\.0\.down,lm_head})" | FileCheck %s --check-prefix=PLAN
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{only=lm_head exclude=lm_.*})" 2>&1 | FileCheck %s --check-prefix=BOTH
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{only=layers\.0\.upp})" 2>&1 | FileCheck %s --check-prefix=TYPO
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize{only=[})" 2>&1 | FileCheck %s --check-prefix=REGEX

// ONLY-LABEL: func.func @mlp
// ONLY: quant.scast %{{.*}} : tensor<2x4xi8> to tensor<2x4x!quant.uniform<i8<-127:127>:f32:1
// ONLY: tailor.linear %arg0, %{{.*}} : (tensor<?x2xf32>, tensor<2x4x!quant.uniform
// ONLY: tailor.linear %{{.*}}, %{{.*}} : (tensor<?x4xf32>, tensor<4x2xf32>)
// ONLY: tailor.linear %{{.*}}, %{{.*}} : (tensor<?x2xf32>, tensor<2x3xf32>)

// The int4 run quantizes up; the int8 run down and lm_head (and leaves up,
// already quantized, alone).
// PLAN-LABEL: func.func @mlp
// PLAN: tailor.linear %arg0, %{{.*}} : (tensor<?x2xf32>, tensor<2x4x!quant.uniform<i8<-8:7>:f32:{0:2, 1:1}
// PLAN: tailor.linear %{{.*}}, %{{.*}} : (tensor<?x4xf32>, tensor<4x2x!quant.uniform<i8<-127:127>:f32:1
// PLAN: tailor.linear %{{.*}}, %{{.*}} : (tensor<?x2xf32>, tensor<2x3x!quant.uniform<i8<-127:127>:f32:1

// A pattern that names nothing to quantize is an error (a typo, a plan for
// another model, a linear also excluded).
// BOTH: error: tailor-quantize: only pattern 'lm_head' names no linear with a constant f32 weight (not excluded)
// TYPO: error: tailor-quantize: only pattern 'layers\.0\.upp' names no linear

// REGEX: error: tailor-quantize: only pattern '[' is not a valid regular expression
func.func @mlp(%x: tensor<?x2xf32>) -> tensor<?x3xf32> {
  %wu = "tailor.onnx.Constant"() <{value = dense<[[1.0, -2.0, 0.5, 3.0], [0.25, 1.0, -1.0, 2.0]]> : tensor<2x4xf32>}> : () -> tensor<2x4xf32> loc("layers.0.up.weight")
  %wd = "tailor.onnx.Constant"() <{value = dense<[[1.0, -2.0], [0.5, 3.0], [0.25, 1.0], [-1.0, 2.0]]> : tensor<4x2xf32>}> : () -> tensor<4x2xf32> loc("layers.0.down.weight")
  %wh = "tailor.onnx.Constant"() <{value = dense<[[1.0, -2.0, 0.5], [0.25, 1.0, -1.0]]> : tensor<2x3xf32>}> : () -> tensor<2x3xf32>
  %0 = tailor.linear %x, %wu : (tensor<?x2xf32>, tensor<2x4xf32>) -> tensor<?x4xf32>
  %1 = tailor.linear %0, %wd : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32>
  %2 = tailor.linear %1, %wh : (tensor<?x2xf32>, tensor<2x3xf32>) -> tensor<?x3xf32> loc("/lm_head/MatMul")
  return %2 : tensor<?x3xf32>
}
