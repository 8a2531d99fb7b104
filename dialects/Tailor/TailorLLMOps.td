//===- TailorLLMOps.td - LLM-level ops of the tailor dialect --------------===//
//
// What `--tailor-raise` rewrites exported subgraphs into. The descriptions are
// the specification that gradient rules and kernels are written from.
//
//===----------------------------------------------------------------------===//

#ifndef TAILOR_LLM_OPS_TD
#define TAILOR_LLM_OPS_TD

include "TailorBase.td"
include "TailorInterfaces.td"

def Tailor_FloatTensor : TensorOf<[F16, BF16, F32, F64]>;
def Tailor_IndexTensor : TensorOf<[I32, I64]>;

class Tailor_LLMOp<string mnemonic, list<Trait> traits = []>
    : Tailor_Op<mnemonic, !listconcat(traits, [NoMemoryEffect,
          DeclareOpInterfaceMethods<Tailor_ShapeInferenceOpInterface>])> {
  let hasVerifier = 1;
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
}

def Tailor_LinearOp : Tailor_LLMOp<"linear"> {
  let summary = "Affine map over the last dimension: y = x·W + b";
  let description = [{
    `input` has shape `[..., K]`, `weight` has shape `[K, N]` (input features
    first, as ONNX MatMul takes it), the optional `bias` has shape `[N]`.
    The result has shape `[..., N]`:
    `y[..., n] = sum_k input[..., k] * weight[k, n] + bias[n]`.
    All operands and the result have one floating-point element type, except
    a quantized weight (`--tailor-quantize`): a `!quant.uniform` tensor whose
    expressed type is that type, per output channel
    (`!quant.uniform<i8:f32:1, {...}>`, axis 1) or per group of input rows
    (`!quant.uniform<i4:f32:{0:G, 1:1}, {...}>`); then `weight[k, n]` above
    is its dequantized value, `scale * (q - zero_point)`.

    `activation_quant = "int8_per_token"` (W8A8, `--tailor-quantize
    mode=w8a8`, only with an i8 weight quantized per output channel) also
    quantizes the input dynamically, one symmetric scale per row (token):
    `input[r, k]` above is replaced by `a_r * clamp(round_half_even(
    input[r, k] / a_r), -127, 127)` with `a_r = max_k |input[r, k]| / 127`
    (a row of zeros stays zero), so the product is a sum of int8 x int8.
  }];
  let arguments = (ins Tailor_FloatTensor:$input, AnyTensor:$weight,
                       Optional<Tailor_FloatTensor>:$bias,
                       OptionalAttr<StrAttr>:$activation_quant);
  let results = (outs Tailor_FloatTensor:$output);
  let builders = [
    OpBuilder<(ins "Type":$output, "Value":$input, "Value":$weight,
                   "Value":$bias), [{
      build($_builder, $_state, output, input, weight, bias, StringAttr());
    }]>
  ];
}

def Tailor_AttentionOp : Tailor_LLMOp<"attention", [AttrSizedOperandSegments]> {
  let summary = "Scaled dot-product attention with grouped-query heads";
  let description = [{
    `query` is `[B, Hq, S, D]`, `key` is `[B, Hkv, T, D]`, `value` is
    `[B, Hkv, T, Dv]`, with `Hq` a multiple of `Hkv` (grouped-query attention;
    `Hq == Hkv` is multi-head attention). Query head `h` attends with key/value
    head `h / (Hq / Hkv)`. The result is `[B, Hq, S, Dv]`:

    ```
    s[b,h,i,j] = scale * sum_d query[b,h,i,d] * key[b,h/G,j,d]  (+ mask[b,h,i,j])
    p[b,h,i,:] = softmax_j(s[b,h,i,:])
    out[b,h,i,e] = sum_j p[b,h,i,j] * value[b,h/G,j,e]
    ```

    `scale` defaults to `1/sqrt(D)`. With `causal`, query row `i` sees key
    columns `j <= i + (T - S)` (aligned to the bottom right, so that a KV cache
    holding `T - S` earlier positions needs no mask); other scores are -inf.
    The optional `mask` broadcasts to `[B, Hq, S, T]` (numpy rules): a boolean
    mask keeps the scores where it is true and sets the rest to -inf; a float
    mask is added to the scores. A row whose scores are all -inf yields NaN,
    as the exported softmax would.

    With a KV cache, `past_key` `[B, Hkv, P, D]` and `past_value`
    `[B, Hkv, P, Dv]` are concatenated before `key` and `value` along the
    sequence axis (so `T` counts past and new positions).
  }];
  let arguments = (ins Tailor_FloatTensor:$query, Tailor_FloatTensor:$key,
                       Tailor_FloatTensor:$value,
                       Optional<AnyTensor>:$mask,
                       Optional<Tailor_FloatTensor>:$past_key,
                       Optional<Tailor_FloatTensor>:$past_value,
                       OptionalAttr<F32Attr>:$scale,
                       DefaultValuedAttr<BoolAttr, "false">:$causal);
  let results = (outs Tailor_FloatTensor:$output);
  let assemblyFormat = [{
    $query `,` $key `,` $value (`mask` `(` $mask^ `)`)?
    (`past` `(` $past_key^ `,` $past_value `)`)? attr-dict `:`
    type($query) `,` type($key) `,` type($value)
    (`,` type($mask)^)? (`past` type($past_key)^ `,` type($past_value))?
    `->` type($output)
  }];
  let extraClassDeclaration = [{
    /// The scale applied to the scores: the attribute or 1/sqrt(D).
    double getEffectiveScale();
  }];
}

def Tailor_RMSNormOp : Tailor_LLMOp<"rms_norm"> {
  let summary = "Root-mean-square normalisation over the last dimension";
  let description = [{
    `input` is `[..., D]`, `weight` is `[D]`; the result has `input`'s shape:
    `y = input / sqrt(mean(input^2 over the last axis) + epsilon) * weight`.
  }];
  let arguments = (ins Tailor_FloatTensor:$input, Tailor_FloatTensor:$weight,
                       DefaultValuedAttr<F32Attr, "1.0e-6">:$epsilon);
  let results = (outs Tailor_FloatTensor:$output);
}

def Tailor_LayerNormOp : Tailor_LLMOp<"layer_norm"> {
  let summary = "Layer normalisation over the last dimension";
  let description = [{
    `input` is `[..., D]`, `weight` and the optional `bias` are `[D]`; the
    result has `input`'s shape:
    `y = (input - mean) / sqrt(var + epsilon) * weight + bias`, with mean and
    (biased) variance over the last axis.
  }];
  let arguments = (ins Tailor_FloatTensor:$input, Tailor_FloatTensor:$weight,
                       Optional<Tailor_FloatTensor>:$bias,
                       DefaultValuedAttr<F32Attr, "1.0e-5">:$epsilon);
  let results = (outs Tailor_FloatTensor:$output);
}

def Tailor_RotaryOp : Tailor_LLMOp<"rotary"> {
  let summary = "Rotary position embedding (RoPE)";
  let description = [{
    `input` is `[..., S, D]` with `D` even; `cos` and `sin` broadcast to it
    (typically `[S, D]` or `[B, 1, S, D]`). With `interleaved = false` (the
    GPT-NeoX / LLaMA "rotate half" layout):
    `y = input * cos + rotate_half(input) * sin`, where
    `rotate_half(x) = concat(-x[..., D/2:], x[..., :D/2])`.
    With `interleaved = true` pairs are adjacent: for each `i < D/2`,
    `(y[2i], y[2i+1]) = (x[2i]*cos[2i] - x[2i+1]*sin[2i],
    x[2i+1]*cos[2i+1] + x[2i]*sin[2i+1])`.
  }];
  let arguments = (ins Tailor_FloatTensor:$input, Tailor_FloatTensor:$cos,
                       Tailor_FloatTensor:$sin,
                       DefaultValuedAttr<BoolAttr, "false">:$interleaved);
  let results = (outs Tailor_FloatTensor:$output);
}

def Tailor_GeluOp : Tailor_LLMOp<"gelu"> {
  let summary = "Gaussian error linear unit";
  let description = [{
    Elementwise. `approximate = "none"`: `y = 0.5 * x * (1 + erf(x / sqrt(2)))`;
    `approximate = "tanh"`:
    `y = 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))`.
  }];
  let arguments = (ins Tailor_FloatTensor:$input,
                       DefaultValuedStrAttr<StrAttr, "none">:$approximate);
  let results = (outs Tailor_FloatTensor:$output);
}

def Tailor_SiluOp : Tailor_LLMOp<"silu"> {
  let summary = "Sigmoid linear unit: y = x * sigmoid(x)";
  let description = [{ Elementwise; the result has the input's type. }];
  let arguments = (ins Tailor_FloatTensor:$input);
  let results = (outs Tailor_FloatTensor:$output);
}

def Tailor_SwiGLUOp : Tailor_LLMOp<"swiglu"> {
  let summary = "Gated SiLU: y = silu(gate) * up";
  let description = [{
    Elementwise over two operands of the same shape (the gate and up
    projections of a LLaMA-style MLP): `y = gate * sigmoid(gate) * up`.
  }];
  let arguments = (ins Tailor_FloatTensor:$gate, Tailor_FloatTensor:$up);
  let results = (outs Tailor_FloatTensor:$output);
}

def Tailor_EmbeddingOp : Tailor_LLMOp<"embedding"> {
  let summary = "Token embedding lookup";
  let description = [{
    `table` is `[V, D]`, `indices` has any shape `[...]` of i32/i64 token
    ids; the result is `[..., D]` with `y[..., :] = table[indices[...], :]`.
    Negative ids count from the end (ONNX Gather semantics); ids outside
    `[-V, V)` are an error at run time.

    The table may be quantized per row (`--tailor-quantize`):
    `tensor<VxDx!quant.uniform<i8:f32:0, {s_0, ..., s_V-1}>>`, one scale
    (and zero point) per token; then `table[v, d]` above is
    `(q[v, d] - z_v) * s_v` and the result has the expressed type.
  }];
  let arguments = (ins AnyTensor:$table, Tailor_IndexTensor:$indices);
  let results = (outs Tailor_FloatTensor:$output);
}

def Tailor_StopGradientOp
    : Tailor_Op<"stop_gradient", [Pure, SameOperandsAndResultType]> {
  let summary = "The operand's value, treated as a constant by autodiff";
  let description = [{
    Returns its operand. `tailor-autodiff` does not differentiate through
    it (PyTorch's `.detach()`): a loss term that uses a statistic of the
    model's outputs as a fixed reference point (KTO's KL estimate) wraps it
    in `tailor.stop_gradient`. Lowered to its operand; not folded before
    that, so that a canonicalization between the loss and autodiff keeps
    it.
  }];
  let arguments = (ins AnyTensor:$input);
  let results = (outs AnyTensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($output)";
}

def Tailor_FakeQuantOp : Tailor_LLMOp<"fake_quant"> {
  let summary = "A weight quantized and dequantized (quantization-aware "
                "training)";
  let description = [{
    `weight` is a `[K, N]` linear weight (input features first). The
    result is what the post-training quantization of `tailor-quantize`
    (round to nearest) would make of it, in float: `bits = 8`: per output
    column, symmetric, `s = max|w| / 127`, `q = clamp(round(w / s), -127,
    127)`, `y = s q`; `bits = 4`: per group of `group_size` rows of each
    column, symmetric (`s = max(-min, max) / 7`, `q in [-8, 7]`) or not
    (`s = (max - min) / 15`, zero point `z = clamp(round(-8 - min / s), -8,
    7)`, `y = s (q - z)`), min and max taken with 0. Rounding is to nearest,
    ties to even. `tailor-autodiff` passes the gradient straight through
    (the straight-through estimator).
  }];
  let arguments = (ins Tailor_FloatTensor:$weight, I64Attr:$bits,
                       I64Attr:$group_size, BoolAttr:$symmetric);
  let results = (outs Tailor_FloatTensor:$output);
}

def Tailor_NF4DequantizeOp : Tailor_LLMOp<"nf4_dequantize"> {
  let summary = "A [K, N] weight from 4-bit NormalFloat codes (QLoRA's "
                "NF4)";
  let description = [{
    QLoRA's frozen base weight (arXiv 2305.14314) as bitsandbytes stores
    it, in a linear's `[K, N]` layout (input features first). `codes`
    `[K / 2, N]` holds two 4-bit indices per byte: row `2i` in the high
    nibble, row `2i + 1` in the low one (bitsandbytes packs the first
    element high). `absmax` `[K / block_size, N]` is each block's absolute
    maximum (a block: `block_size` consecutive rows of a column, i.e.
    consecutive elements of PyTorch's `[out, in]` weight, as bitsandbytes'
    blocks). `output[k, n] = NF4[code(k, n)] * absmax[k / block_size, n]`,
    NF4 the 16 values of bitsandbytes' `get_4bit_type("nf4")`.
    `tailor-quantize mode=nf4` makes it; the weight is frozen (no
    gradient rule: its operands are constants).
  }];
  let arguments = (ins TensorOf<[I8]>:$codes, TensorOf<[F32]>:$absmax,
                       I64Attr:$block_size);
  let results = (outs TensorOf<[F32]>:$output);
}

def Tailor_RecomputeBarrierOp
    : Tailor_Op<"recompute_barrier",
                [SameOperandsAndResultType, MemoryEffects<[MemWrite]>]> {
  let summary = "The operand's value; keeps a recomputation apart";
  let description = [{
    Returns its operand. `tailor-recompute` passes the inputs of every
    segment it recomputes for the backward pass through one, so that CSE
    cannot merge the recomputed ops back into the forward ops they copy (a
    declared write effect: it is neither merged nor moved). Survives the
    lowering to linalg; `tailor-erase-recompute-barriers` replaces it by
    its operand once the kernels are outlined into calls (which CSE does
    not merge either).
  }];
  let arguments = (ins AnyTensor:$input);
  let results = (outs AnyTensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($output)";
}

def Tailor_MoEOp : Tailor_LLMOp<"moe"> {
  let summary = "Mixture of SwiGLU experts with a top-k softmax router";
  let description = [{
    `input` is `[..., D]`; `router` is `[D, E]`; `w_gate` and `w_up` are
    `[E, D, F]`; `w_down` is `[E, F, D]`. For each token `x` (a row of
    `input`):

    ```
    logits = x · router                       # [E]
    p = softmax(logits); (w, idx) = top_k(p, k)  # ties: lower index first
    if normalize: w = w / sum(w)              # Mixtral renormalises over top-k
    y = sum_i w[i] * ((silu(x · w_gate[idx[i]]) * (x · w_up[idx[i]])) · w_down[idx[i]])
    ```
    The result has `input`'s shape.
  }];
  let arguments = (ins Tailor_FloatTensor:$input, Tailor_FloatTensor:$router,
                       Tailor_FloatTensor:$w_gate, Tailor_FloatTensor:$w_up,
                       Tailor_FloatTensor:$w_down,
                       ConfinedAttr<I64Attr, [IntPositive]>:$top_k,
                       DefaultValuedAttr<BoolAttr, "true">:$normalize);
  let results = (outs Tailor_FloatTensor:$output);
}

#endif // TAILOR_LLM_OPS_TD
