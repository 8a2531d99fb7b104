// PEFT adapter files merged by --tailor-lora-merge{adapters=...}: linears are
// found by their MatMul/Gemm node's scope or their weight's initializer name,
// module-map renames adapter modules, adapter-weights scales each adapter,
// lora_B.bias lands in the linear's bias (created when it has none).
// Adapter files are written by test/models/peft_adapter.py --write.

// RUN: rm -rf %t && mkdir -p %t
// RUN: %python %S/../../models/peft_adapter.py --write %t/a '{"r": 1, "lora_alpha": 0.5, "lora_bias": true, "target_modules": ["q", "lm_head"]}' '{"base_model.model.blocks.0.q.lora_A.weight": [[1, 2], 1, "F32"], "base_model.model.blocks.0.q.lora_B.weight": [[2, 1], 2, "F32"], "base_model.model.blocks.0.q.lora_B.bias": [[2], 1, "F32"], "base_model.model.lm_head.lora_A.weight": [[1, 2], 1, "BF16"], "base_model.model.lm_head.lora_B.weight": [[2, 1], 2, "BF16"], "base_model.model.lm_head.lora_B.bias": [[2], 1, "BF16"]}'
// RUN: %python %S/../../models/peft_adapter.py --write %t/hf '{"r": 1, "lora_alpha": 1, "target_modules": ["q_proj"]}' '{"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": [[1, 2], 1, "F32"], "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight": [[2, 1], 1, "F32"]}'

// One adapter, weight 1: delta = 0.5 * (B.A)^T = 1 -> W' = 2 for both
// linears; the q linear gets bias 0.5 * 1, lm_head's bias 3 becomes 3.5.
// RUN: tailor-opt %s --pass-pipeline="builtin.module(tailor-lora-merge{adapters=%t/a})" | FileCheck %s --check-prefix=ONE
// ONE-LABEL: func.func @adapted
// ONE-DAG: %[[QW:.*]] = "tailor.onnx.Constant"() <{value = dense_resource<tailor_lora_merged> : tensor<2x2xf32>}>
// ONE-DAG: %[[QB:.*]] = "tailor.onnx.Constant"() <{value = dense_resource<tailor_lora_merged_1> : tensor<2xf32>}>
// ONE-DAG: %[[HW:.*]] = "tailor.onnx.Constant"() <{value = dense_resource<tailor_lora_merged_2> : tensor<2x2xf32>}>
// ONE-DAG: %[[HB:.*]] = "tailor.onnx.Constant"() <{value = dense_resource<tailor_lora_merged_3> : tensor<2xf32>}>
// ONE: %[[Q:.*]] = tailor.linear %arg0, %[[QW]], %[[QB]]
// ONE: tailor.linear %[[Q]], %[[HW]], %[[HB]]
// ONE-DAG: tailor_lora_merged: "0x0400000000000040000000400000004000000040"
// ONE-DAG: tailor_lora_merged_1: "0x040000000000003F0000003F"
// ONE-DAG: tailor_lora_merged_2: "0x0400000000000040000000400000004000000040"
// ONE-DAG: tailor_lora_merged_3: "0x040000000000604000006040"

// Two adapters, weights 2 and 1, the second renamed by module-map:
// W'(q) = 1 + 2 * 1 + 1 * 1 = 4, its bias 2 * 0.5 = 1.
// RUN: tailor-opt %s --pass-pipeline="builtin.module(tailor-lora-merge{adapters=%t/a,%t/hf adapter-weights=2,1 module-map=model\.layers\.([0-9]+)\.self_attn\.q_proj=>blocks.\1.q})" | FileCheck %s --check-prefix=TWO
// TWO: %[[QW:.*]] = "tailor.onnx.Constant"() <{value = dense_resource<tailor_lora_merged> : tensor<2x2xf32>}>
// TWO: tailor.linear %arg0, %[[QW]]
// TWO: tailor_lora_merged: "0x0400000000008040000080400000804000008040"

// Into an int8 model (tailor-quantize first): W = 1 is stored as 127 with
// scale 1/127; the merge dequantizes it, adds the delta 1 in full precision
// and re-quantizes 2 -> 127 with scale 2/127 (not an int merge).
// RUN: tailor-opt %s --pass-pipeline="builtin.module(tailor-quantize,tailor-lora-merge{adapters=%t/a})" | FileCheck %s --check-prefix=INT8
// INT8-NOT: 0.0078740157480314959
// INT8: %[[W:.*]] = quant.scast %{{.*}} : tensor<2x2xi8> to tensor<2x2x!quant.uniform<i8<-127:127>:f32:1, {0.015748031496062992,0.015748031496062992}>>
// INT8: tailor.linear %arg0, %[[W]]

func.func @adapted(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %w = "tailor.onnx.Constant"() <{value = dense<1.0> : tensor<2x2xf32>}> : () -> tensor<2x2xf32> loc("onnx::MatMul_7")
  %h = "tailor.onnx.Constant"() <{value = dense<1.0> : tensor<2x2xf32>}> : () -> tensor<2x2xf32> loc("lm_head.weight")
  %b = "tailor.onnx.Constant"() <{value = dense<3.0> : tensor<2xf32>}> : () -> tensor<2xf32>
  %0 = tailor.linear %x, %w : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32> loc("/blocks.0/q/MatMul")
  %1 = tailor.linear %0, %h, %b : (tensor<?x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<?x2xf32> loc(fused["/Reshape_3", "/Add_2"])
  return %1 : tensor<?x2xf32>
}

// Errors: each names the adapter and module, and the pass fails.
// RUN: %python %S/../../models/peft_adapter.py --write %t/unknown '{"r": 1, "target_modules": ["q"]}' '{"base_model.model.blocks.9.q.lora_A.weight": [[1, 2], 1, "F32"], "base_model.model.blocks.9.q.lora_B.weight": [[2, 1], 1, "F32"]}'
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-lora-merge{adapters=%t/unknown})" 2>&1 | FileCheck %s --check-prefix=UNKNOWN
// UNKNOWN: error: LoRA adapter '{{.*}}unknown': module 'blocks.9.q' is not a linear of the model (unknown target module); the model's linears are named like 'blocks.0.q', 'lm_head' (2 names; module-map rewrites adapter names)
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-lora-merge{adapters=%t/unknown module-map=9=>8})" 2>&1 | FileCheck %s --check-prefix=MAPPED
// MAPPED: module 'blocks.9.q' (mapped to 'blocks.8.q') is not a linear of the model

// RUN: %python %S/../../models/peft_adapter.py --write %t/rank '{"r": 2, "target_modules": ["q"]}' '{"base_model.model.blocks.0.q.lora_A.weight": [[1, 2], 1, "F32"], "base_model.model.blocks.0.q.lora_B.weight": [[2, 1], 1, "F32"]}'
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-lora-merge{adapters=%t/rank})" 2>&1 | FileCheck %s --check-prefix=RANK
// RANK: error: cannot merge LoRA adapter: {{.*}}adapter_model.safetensors: module 'blocks.0.q': rank mismatch: lora_A is [1, 2], lora_B is [2, 1], the config's rank is 2

// RUN: %python %S/../../models/peft_adapter.py --write %t/shape '{"r": 1, "target_modules": ["q"]}' '{"base_model.model.blocks.0.q.lora_A.weight": [[1, 3], 1, "F32"], "base_model.model.blocks.0.q.lora_B.weight": [[2, 1], 1, "F32"]}'
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-lora-merge{adapters=%t/shape})" 2>&1 | FileCheck %s --check-prefix=SHAPE
// SHAPE: error: {{.*}}LoRA adapter '{{.*}}shape': module 'blocks.0.q' adapts a [2 x 3] (out x in) weight, but this linear's weight is [2 x 2] (in x out)

// RUN: %python %S/../../models/peft_adapter.py --write %t/truncated '{"r": 1}' '{"base_model.model.blocks.0.q.lora_A.weight": [[1, 2], 1, "F32"], "base_model.model.blocks.0.q.lora_B.weight": [[2, 1], 1, "F32"]}' --truncate 100
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-lora-merge{adapters=%t/truncated})" 2>&1 | FileCheck %s --check-prefix=TRUNCATED
// TRUNCATED: error: cannot merge LoRA adapter: {{.*}}adapter_model.safetensors

// RUN: mkdir -p %t/empty
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-lora-merge{adapters=%t/empty})" 2>&1 | FileCheck %s --check-prefix=MISSING
// MISSING: error: cannot merge LoRA adapter: {{.*}}empty{{/|\\}}adapter_config.json: cannot read: No such file or directory

// RUN: %python %S/../../models/peft_adapter.py --write %t/dora '{"r": 1, "use_dora": true, "target_modules": ["blocks.0.q"]}' '{"base_model.model.blocks.0.q.lora_A.weight": [[1, 2], 1, "F32"], "base_model.model.blocks.0.q.lora_B.weight": [[2, 1], 1, "F32"]}'
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-lora-merge{adapters=%t/dora})" 2>&1 | FileCheck %s --check-prefix=DORA
// DORA: module 'blocks.0.q': use_dora needs lora_magnitude_vector [2]

// RUN: %python %S/../../models/peft_adapter.py --write %t/untargeted '{"r": 1, "target_modules": ["v"]}' '{"base_model.model.blocks.0.q.lora_A.weight": [[1, 2], 1, "F32"], "base_model.model.blocks.0.q.lora_B.weight": [[2, 1], 1, "F32"]}'
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-lora-merge{adapters=%t/untargeted})" 2>&1 | FileCheck %s --check-prefix=UNTARGETED
// UNTARGETED: module 'blocks.0.q': is not one of the config's target_modules

// RUN: %python %S/../../models/peft_adapter.py --write %t/stray '{"r": 1}' '{"base_model.model.blocks.0.q.lora_A.weight": [[1, 2], 1, "F32"], "base_model.model.blocks.0.q.lora_B.weight": [[2, 1], 1, "F32"], "base_model.model.blocks.0.q.lora_magnitude_vector": [[2], 1, "F32"]}'
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-lora-merge{adapters=%t/stray})" 2>&1 | FileCheck %s --check-prefix=STRAY
// STRAY: tensor 'base_model.model.blocks.0.q.lora_magnitude_vector' is not a LoRA weight

// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-lora-merge{adapters=%t/a adapter-weights=1,2})" 2>&1 | FileCheck %s --check-prefix=WEIGHTS
// WEIGHTS: error: adapter-weights has 2 value(s) for 1 adapter(s)
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-lora-merge{adapters=%t/a module-map=(=>x})" 2>&1 | FileCheck %s --check-prefix=REGEX
// REGEX: error: module-map pattern '(' is not a valid regular expression
// RUN: not tailor-opt %s --pass-pipeline="builtin.module(tailor-lora-merge{adapters=%t/a module-map=blocks})" 2>&1 | FileCheck %s --check-prefix=MAPSYNTAX
// MAPSYNTAX: error: module-map entry 'blocks' is not REGEX=>REPLACEMENT
