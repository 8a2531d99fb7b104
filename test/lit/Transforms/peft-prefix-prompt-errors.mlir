// RUN: tailor-opt %s --tailor-peft="method=prefix" -verify-diagnostics
// RUN: not tailor-opt %s --tailor-peft="method=prompt" 2>&1 | FileCheck %s --check-prefix=PROMPT

// A model without a KV cache has no place for a prefix; without a token
// embedding Gather, none for a prompt.
// expected-error @+2 {{tailor-peft: method=prefix needs a model exported with a KV cache (past_* inputs [batch, heads, past, head_dim] with static heads and head_dim)}}
// PROMPT: error: tailor-peft: method=prompt needs the token embedding: a Gather of a constant [vocab, dim] table by the input_ids input
func.func @nocache(%ids: tensor<2x10xi64> {onnx.name = "input_ids"}) -> tensor<2x10xi64> {
  return %ids : tensor<2x10xi64>
}
