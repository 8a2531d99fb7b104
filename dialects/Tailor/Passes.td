//===- Passes.td - Tailor passes ------------------------------------------===//

#ifndef TAILOR_PASSES_TD
#define TAILOR_PASSES_TD

include "mlir/Pass/PassBase.td"

def TailorInferShapes : Pass<"tailor-infer-shapes", "func::FuncOp"> {
  let summary = "Refine result types with ONNX shape inference";
  let description = [{
    Walks a function in order and refines every op's result types with what
    its shape-inference interface computes from the operand types (and from
    constant operands, such as a Reshape's target shape). ONNX ops use ONNX's
    own shape-inference functions. A result type is only ever made more
    precise: an unranked tensor may gain a rank, a `?` a static size. The
    function's result types are updated to match its `return`.
    Inconsistent operands are reported as errors at the op's location.
  }];
  let dependentDialects = ["::mlir::tailor::TailorDialect"];
  let statistics = [
    Statistic<"numRefined", "results-refined", "Result types made more precise">
  ];
}

def TailorSpecializeInputs : Pass<"tailor-specialize-inputs", "ModuleOp"> {
  let summary = "Give the entry's inputs static shapes and propagate them";
  let description = [{
    Each `shapes` entry `name:AxBxC` (an input's ONNX name, `x`-separated
    sizes; `0` is allowed, an empty KV cache) replaces that argument's
    type with the static one, then refines the body: shape inference and
    canonicalization alternate until nothing changes, so shape
    computations (Shape, Gather, Concat, a Reshape's target) fold to
    constants and every dependent type becomes static. A compiled training
    step or prefill for one known batch shape then has static kernels and
    no run-time broadcast guards.

    Errors: an unknown input name, a malformed entry, a rank that differs
    from the input's, or a size that contradicts a static one.

    Example: `--tailor-specialize-inputs="shapes=input_ids:8x128,labels:8x128"`
  }];
  let options = [
    ListOption<"shapes", "shapes", "std::string",
               "name:AxBx... for each input to make static">
  ];
  let dependentDialects = ["::mlir::tailor::TailorDialect"];
  let statistics = [
    Statistic<"numSpecialized", "inputs-specialized", "Inputs made static">
  ];
}

def TailorRaise : Pass<"tailor-raise", "func::FuncOp"> {
  let summary = "Raise exported ONNX subgraphs to LLM ops";
  let description = [{
    Rewrites the subgraphs PyTorch's ONNX exporter produces for decoder
    blocks into the LLM ops, in phases (shape arithmetic is folded and result
    types re-inferred between them):

    1. `MatMul(x, W)` (+ bias `Add`) with a constant 2-D weight -> `linear`;
       `Gather` on a constant 2-D table -> `embedding`;
       `x * sigmoid(x)` -> `silu`, `silu(g) * u` -> `swiglu`;
       the erf and tanh GELU formulas -> `gelu`;
       RMSNorm (`Pow/ReduceMean/Add/Sqrt/Div/Mul`), `LayerNormalization` and
       its pre-opset-17 decomposition -> `rms_norm` / `layer_norm`.
    2. `x * cos + rotate_half(x) * sin` -> `rotary`.
    3. `softmax(mask(scale * Q·Kᵀ)) · V`, with grouped-query key/value heads
       expanded by `repeat_kv` -> `attention` on the unexpanded heads.
    4. A dense Mixtral-style block (softmax router, top-k, renormalised
       weights scattered over the experts, a weighted sum of SwiGLU experts)
       -> `moe`, with the expert weights stacked into `[E, D, F]` tensors.

    5. A QDQ weight, `MatMul(x, DequantizeLinear(q, scale[, zero_point]))`
       with a constant int8 `q` [K, N] and a per-column (axis 1) or
       per-tensor scale -> `linear` over `quant.scast` of `q` to a per-axis
       `!quant.uniform` type (the form `tailor-quantize` produces).

    Raising is an optimisation: a subgraph that does not match exactly stays
    at ONNX level and remains correct. `phases=1` stops after phase 1 (and
    the QDQ weights): the linears, activations and norms the compression
    passes work on, nothing that ONNX cannot express again
    (`tailor-compile --emit=onnx`).
  }];
  let options = [
    Option<"phases", "phases", "int64_t", /*default=*/"4",
           "How many of the raising phases to run (1-4)">
  ];
  let dependentDialects = ["::mlir::tailor::TailorDialect",
                           "::mlir::quant::QuantDialect"];
}

def TailorSummary : Pass<"tailor-summary", "ModuleOp"> {
  let summary = "Print what a model holds: layers, attention, norms, parameters";
  let description = [{
    Prints a human-readable summary of each function to standard error (or
    the file named by `output`): its inputs and outputs, the parameter count
    (elements of floating-point constants), the LLM ops found (attention
    blocks with their head layout, norms, MoE blocks, ...), the number of
    decoder layers (attention blocks) and the ONNX-level ops that remain.
    The IR is not changed.
  }];
  let options = [
    Option<"output", "output", "std::string", /*default=*/"\"-\"",
           "Where to write the summary ('-': standard error)">
  ];
}

def TailorLoRAMerge : Pass<"tailor-lora-merge", "ModuleOp"> {
  let summary = "Fold LoRA adapters into their base weights: branches of the "
                "graph and Hugging Face PEFT adapter files";
  let description = [{
    Two sources of LoRA deltas, both merged at compile time in double
    precision so that the merged model runs at the base model's speed:

    1. Branches in the graph. A LoRA-wrapped linear as exported, after
       raising: `y = linear(x, W) + s * linear(linear(x, A), B)` (A `[K, r]`,
       B `[r, N]`, the scale `s` = lora_alpha / r, or absent) becomes
       `linear(x, W + s * A.B)`. W, A, B and s must be constants (weights
       being trained stay unmerged); the base linear may have a bias.
       Branches that do not match stay as they are.

    2. PEFT adapters (`adapters`): each a directory written by PEFT's
       `save_pretrained` (adapter_config.json + adapter_model.safetensors).
       Every adapted module `M` (tensor `base_model.model.M.lora_A.weight`)
       is merged into the linears named `M`: a linear's names are its ONNX
       MatMul/Gemm node's scope (`/model/layers.0/self_attn/q_proj/MatMul`
       -> `model.layers.0.self_attn.q_proj`) and its weight initializer's
       name without `.weight`. `module-map` rewrites adapter module names
       first (`REGEX=>REPLACEMENT`, `\1` for groups, applied in order), for
       adapters trained on a model whose module names differ from the
       exported graph's. The delta of adapter i is
       `weight_i * scale * (B.A)^T` with scale = lora_alpha / r (or
       / sqrt(r) with use_rslora; rank_pattern / alpha_pattern honoured);
       fan_in_fan_out changes only how PyTorch stores the base weight, not
       the graph's `[in, out]` linear weight, so the delta is the same.
       lora_B.bias is added to the linear's bias (one is created if the
       linear has none). An adapter module that matches no linear, or one
       whose shape disagrees, is an error; so is a non-finite merged weight.
  }];
  let options = [
    ListOption<"adapters", "adapters", "std::string",
               "PEFT LoRA adapters to merge: directories with "
               "adapter_config.json and adapter_model.safetensors (or the "
               ".safetensors files, their config beside them)">,
    ListOption<"adapterWeights", "adapter-weights", "double",
               "Weight of each adapter's delta (default 1 each; one per "
               "adapter when given)">,
    ListOption<"moduleMap", "module-map", "std::string",
               "Rewrites of adapter module names before matching, "
               "REGEX=>REPLACEMENT (applied in order)">
  ];
  let statistics = [
    Statistic<"numMerged", "merged", "LoRA branches of the graph merged">,
    Statistic<"numAdapterModules", "adapter-modules",
              "PEFT adapter modules merged">
  ];
}

def TailorQuantize : Pass<"tailor-quantize", "ModuleOp"> {
  let summary = "Quantize the weights of linears (post-training)";
  let description = [{
    Replaces the constant f32 weight `[K, N]` of each `tailor.linear` by
    integers and a `!quant.uniform` type that carries the scales:

    ```
    %q = "tailor.onnx.Constant"() {value = dense_resource<..> : tensor<KxNxi8>}
    %w = quant.scast %q : tensor<KxNxi8> to
           tensor<KxNx!quant.uniform<i8<-127:127>:f32:1, {s_0, ..., s_N-1}>>
    %y = tailor.linear %x, %w
    ```

    `mode=int8`: weight-only, one scale per output channel (column n),
    symmetric: `s_n = max_k |W[k, n]| / 127`, `q = round_half_even(W / s)`
    (../shared/REFERENCE.md section 2.1). The kernels read the integers
    (`tailor-lower-to-linalg` turns the product into an i8 x f32
    contraction scaled per column); the weight is never dequantized whole.

    `mode=int4`: weight-only, one scale per `group-size` consecutive input
    rows of each output column (`!quant.uniform<i8<-8:7>:f32:{0:G, 1:1},
    {...}>`: 4-bit values, stored one per byte until the kernels unpack
    nibbles), symmetric `s = max|w| / 7` or asymmetric (`s = (max - min) /
    15`, a zero point per group). A group size that does not divide K is an
    error naming the linear.

    `mode=nf4`: QLoRA's 4-bit NormalFloat (arXiv 2305.14314) as
    bitsandbytes quantizes it, blocks of `group-size` rows of each column
    (bitsandbytes' blocksize; 64 is its default): per block the absolute
    maximum, each element the index of the nearest NF4 value to
    `w * (1 / absmax)`, two indices per byte; the weight becomes
    `tailor.nf4_dequantize` of those constants (a float weight computed in
    the step: QLoRA's dequantize-then-multiply, not an integer kernel). No
    double quantization of the absmax.

    `mode=w8a8`: the int8 weights of `mode=int8` and, on each linear,
    `activation_quant = "int8_per_token"`: the input is quantized at run
    time, one symmetric scale per row (token), and the product is a sum of
    int8 x int8 (the CPU kernel `tailor_q8_matmul`, vpmaddwd on AVX2).
    `method=smoothquant` (Xiao et al.) first moves activation outliers into
    the weights: per input channel k, `s_k = max|X_k|^alpha /
    max_n |W[k, n]|^(1 - alpha)` (`smooth-alpha`, default 0.5; s = 1 where
    either is 0) from the calibration's channel maxima, W' = diag(s) W is
    quantized and the input is divided by s (a `tailor.onnx.Mul`, fused
    into the per-token quantization).

    `method` (int4): `rtn` rounds each weight to nearest. `gptq` (Frantar
    et al.) quantizes the input rows in order and spreads each row's
    rounding error over the rows not yet quantized through the upper
    Cholesky factor of (X^T X + damp * mean(diag) I)^-1, group parameters
    taken from the updated weights as each group starts. `awq` (Lin et al.)
    scales input channel k by s_k = rms_k^alpha (rms from diag(X^T X)),
    quantizes diag(s) W by RTN and divides the input by s (a constant
    `tailor.onnx.Mul` before the linear); alpha is the grid point with the
    least output error sum_n d_n^T (X^T X) d_n. Both read X^T X per linear
    from `calibration` (tailor-calibrate --hessian on the same model).

    `exclude` names linears to keep in f32, by module path (the same names
    `tailor-lora-merge` matches: the MatMul node's scope, e.g. `lm_head`, or
    the weight initializer's name without `.weight`), as regular
    expressions matched against the whole name. `only`, when given,
    restricts the pass to the linears whose first name (the MatMul node's
    scope, else the weight's name) matches; a pattern that names no such
    linear is an error. A plan that quantizes layers differently runs the
    pass once per setting, as `tailor-compile --max-kl` and
    `--quantize-plan` do. Linears with
    non-constant or non-f32 weights (e.g. already quantized), and weights
    smaller than `min-elements`, stay as they are.
  }];
  let options = [
    Option<"mode", "mode", "std::string", /*default=*/"\"int8\"",
           "What to quantize: int8 (weight-only, per output channel), "
           "int4 (weight-only, per group of group-size input rows), nf4 "
           "(QLoRA's NormalFloat, blocks of group-size rows) or w8a8 "
           "(int8 weights per output channel and int8 activations per token)">,
    Option<"groupSize", "group-size", "int64_t", /*default=*/"128",
           "int4: input rows per scale (32, 64, 128, ...); must divide K">,
    Option<"symmetric", "symmetric", "bool", /*default=*/"true",
           "int4: symmetric (q in [-8, 7], no zero point) or asymmetric "
           "(min/max range, a zero point per group)">,
    Option<"qat", "qat", "bool", /*default=*/"false",
           "Quantization-aware training: instead of quantizing constants, "
           "each trainable [K, N] MatMul weight (tailor-peft method=full) is "
           "read through tailor.fake_quant of `mode` (int8 or int4 with "
           "group-size and symmetric), the straight-through estimator in "
           "the backward; the trained weights then quantize (RTN) to the "
           "model the QAT forward computed">,
    Option<"method", "method", "std::string", /*default=*/"\"rtn\"",
           "int4: rtn (round to nearest), gptq (error feedback through "
           "(X^T X)^-1) or awq (activation-aware input-channel scales); "
           "w8a8: rtn or smoothquant (input-channel scales moving activation "
           "outliers into the weights); all but rtn need calibration">,
    Option<"calibration", "calibration", "std::string", /*default=*/"",
           "Statistics from tailor-calibrate (--hessian for gptq and awq: "
           "X^T X per linear; smoothquant reads the inputs' channel maxima)">,
    Option<"damp", "damp", "double", /*default=*/"0.01",
           "gptq: fraction of mean(diag(X^T X)) added to its diagonal">,
    Option<"awqGrid", "awq-grid", "int64_t", /*default=*/"20",
           "awq: grid points for the scale exponent alpha in [0, 1)">,
    Option<"smoothAlpha", "smooth-alpha", "double", /*default=*/"0.5",
           "smoothquant: migration strength alpha in [0, 1] (0: the "
           "weights keep their ranges; 1: the activations become flat)">,
    ListOption<"exclude", "exclude", "std::string",
               "Regular expressions of module names to keep in f32">,
    ListOption<"only", "only", "std::string",
               "Regular expressions of module names: quantize only these "
               "linears (default: all)">,
    Option<"minElements", "min-elements", "int64_t", /*default=*/"0",
           "Keep weights with fewer elements in f32">,
    Option<"embeddings", "embeddings", "bool", /*default=*/"true",
           "int8, int4, w8a8: also store constant embedding tables "
           "(tailor.embedding) as int8, one symmetric scale per row (token); "
           "`exclude` and `min-elements` apply, `only` turns it off">,
    Option<"quantizeLinears", "linears", "bool", /*default=*/"true",
           "Quantize the linears (false: only the embedding tables, e.g. "
           "after a per-layer plan's steps)">
  ];
  let dependentDialects = ["::mlir::quant::QuantDialect"];
  let statistics = [
    Statistic<"numQuantized", "linears", "linears whose weights were quantized">,
    Statistic<"numEmbeddings", "embeddings", "embedding tables stored as int8">,
    Statistic<"numBytesBefore", "bytes-before", "weight bytes before">,
    Statistic<"numBytesAfter", "bytes-after", "weight bytes after (scales included)">
  ];
}

def TailorPrune : Pass<"tailor-prune", "ModuleOp"> {
  let summary = "Prune linear weights: unstructured, N:M, or whole FFN "
                "channels or attention heads";
  let description = [{
    Scores weights by magnitude (`method=magnitude`, |w|) or by Wanda
    (`method=wanda`, |w[k, n]| * ||x_k||, the input channel's activation
    norm from `calibration`, a tailor-calibrate file; weights compete within
    each output, as in the paper) and removes the lowest-scoring ones:

    - `pattern=unstructured`: per linear, the `sparsity` fraction of weights
      with the smallest |w| become 0 (the dense kernels run them as they are:
      zeros do not pay on this CPU without sparse kernels);
    - `pattern=2:4` (any `N:M`): in every M consecutive input weights of an
      output, the M - N smallest become 0 (`sparsity` is implied);
    - `pattern=ffn-channels`: structured. In a SwiGLU block
      `linear(swiglu(linear(x, Wg), linear(x, Wu)), Wd)` or a GELU block
      `linear(gelu(linear(x, W1, b1)), W2, b2)`, the `sparsity` fraction of
      hidden channels f with the smallest score ||Wg[:, f]|| ||Wu[:, f]||
      ||Wd[f, :]|| (||W1[:, f]|| ||W2[f, :]||) is removed: every weight, bias
      and intermediate shape shrinks (kept channels rounded to a multiple of
      `multiple`, default 16, for the kernels' register tiles);
    - `pattern=heads`: structured. In each attention block as exported
      (q/k/v linears -> Reshape [B, S, H, D] -> Transpose -> rotary ->
      Concat(past, new) -> `tailor.attention` -> Transpose -> Reshape ->
      o linear), the `sparsity` fraction of key/value heads (rounded, at
      least one kept) is removed with their query heads (grouped-query:
      the group size stays), by the score sum_h ||Wq[:, h]|| ||Wo[h, :]||
      + ||Wk[:, j]|| ||Wv[:, j]|| over the group's columns / rows: the
      q/k/v columns and o rows, the Reshape shapes, every type on the
      chain and the KV cache inputs and outputs shrink. Blocks of another
      form are left as they are.

    `exclude` keeps linears by module name (regular expressions, as for
    tailor-quantize).
  }];
  let options = [
    Option<"method", "method", "std::string", /*default=*/"\"magnitude\"",
           "How weights are scored: magnitude or wanda (needs calibration)">,
    Option<"calibration", "calibration", "std::string", /*default=*/"",
           "tailor-calibrate's statistics (.safetensors) for wanda">,
    Option<"pattern", "pattern", "std::string", /*default=*/"\"unstructured\"",
           "unstructured, N:M (e.g. 2:4), ffn-channels or heads">,
    Option<"sparsity", "sparsity", "double", /*default=*/"0.5",
           "Fraction of weights (ffn-channels: of hidden channels; heads: "
           "of key/value heads) removed, in [0, 1)">,
    Option<"multiple", "multiple", "int64_t", /*default=*/"16",
           "ffn-channels: kept channels are a multiple of this">,
    ListOption<"exclude", "exclude", "std::string",
               "Regular expressions of module names to leave alone">
  ];
  let statistics = [
    Statistic<"numZeroed", "zeroed", "weights set to zero">,
    Statistic<"numChannels", "channels-removed", "FFN channels removed">,
    Statistic<"numHeads", "heads-removed", "query heads removed">
  ];
}

def TailorInstrumentLinears : Pass<"tailor-instrument-linears", "ModuleOp"> {
  let summary = "Return statistics of every linear's input (calibration)";
  let description = [{
    For each linear with a constant f32 weight [K, N], appends results to
    the entry function computed from the linear's input x (all leading dims
    flattened into rows r): `sum_r x[r, k]^2` ([K], named
    `calib:<key>:sumsq`), `max_r |x[r, k]|` ([K], `calib:<key>:absmax`;
    tailor-calibrate takes the maximum over batches) and, with `hessian`,
    `sum_r x[r, i] x[r, j]`
    ([K, K], `calib:<key>:hessian`). `<key>` is the linear's module name
    (else `linear.<i>`). `tailor-calibrate` runs the instrumented model over
    calibration tokens and sums these into a safetensors file that
    tailor-prune (Wanda) reads.
  }];
  let options = [
    Option<"hessian", "hessian", "bool", /*default=*/"false",
           "Also return x^T x per linear (GPTQ)">
  ];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect"];
}

def TailorLowerToLinalg : Pass<"tailor-lower-to-linalg", "ModuleOp"> {
  let summary = "Lower the tailor dialect to linalg, tensor, arith and math";
  let description = [{
    Rewrites every ONNX-level and LLM op into upstream MLIR on tensors:
    elementwise ops (with numpy broadcasting) and reductions become
    `linalg.generic`; a matrix product whose right operand has no batch dims
    becomes one `linalg.matmul` over the collapsed rows of the left operand;
    shape ops read sizes at run time (`tensor.dim`), so dynamic dims are
    supported throughout. A dynamic size that may be 1 at run time is
    broadcast at run time, never assumed. ONNX's unsigned element types
    become signless integers (their ops pick the unsigned arith variants).

    An op with no lowering yet is reported at its location (its ONNX node
    name) and the pass fails.

    `tailor.attention` materialises its [B, H, S, T] scores up to
    `attention-block` keys; with more keys, or a dynamic key count, it is an
    online softmax over key blocks of that size (flash attention: a running
    row max and sum, the output rescaled per block), so memory grows with
    S x block instead of S x T.
  }];
  let options = [
    Option<"attentionBlock", "attention-block", "int64_t", /*default=*/"256",
           "Keys per block of the online-softmax attention (0: always "
           "materialise the score matrix)">,
    Option<"int4Activations", "int4-activations", "std::string",
           /*default=*/"\"int8\"",
           "Activations of a linear with constant int4 weights: int8 (quantized "
           "per row and weight group at run time, integer micro-kernel "
           "tailor_q4_matmul) or f32 (exact, the group contraction)">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect", "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect", "::mlir::cf::ControlFlowDialect",
    "::mlir::func::FuncDialect"
  ];
  let statistics = [
    Statistic<"numLowered", "ops-lowered", "tailor ops lowered">
  ];
}

def TailorExpandShapeToReinterpretCast
    : Pass<"tailor-expand-shape-to-reinterpret-cast", "func::FuncOp"> {
  let summary = "Rewrite memref.expand_shape with several dynamic sizes in "
                "one group as memref.reinterpret_cast";
  let description = [{
    MLIR 22's `expand-strided-metadata` crashes on a `memref.expand_shape`
    that has more than one dynamic size in a reassociation group
    (llvm/llvm-project#186830, fixed for LLVM 23). Dynamic batch and
    sequence dims produce exactly that (`[b*s, d] -> [b, s, d]`). This pass
    rewrites such ops into a `memref.reinterpret_cast` of the source's base
    buffer, with the sizes from `output_shape` and strides derived from the
    source's; every other `expand_shape` is left to upstream.
  }];
  let dependentDialects = ["::mlir::memref::MemRefDialect",
                           "::mlir::arith::ArithDialect"];
  let statistics = [
    Statistic<"numRewritten", "rewritten", "expand_shape ops rewritten">
  ];
}

def TailorParallelizeGenerics
    : Pass<"tailor-parallelize-generics", "func::FuncOp"> {
  let summary = "Share the other linalg.generic ops' loops among the "
                "threads";
  let description = [{
    After `tailor-tile-contractions` (whose products are already shared by
    the threads): each other `linalg.generic` (and `linalg.fill`) on
    tensors with at least `min-iterations` iterations in all (elementwise
    maps, softmax and norm reductions, a backward pass's row sums) becomes
    an `scf.forall` over its first parallel loop of extent >= 2 (if that
    loop indexes every output), in about 16 chunks (a divisor of the
    extent: static slices), each the op on its slice; the CPU pipeline
    lowers the forall to an OpenMP loop (static schedule: each thread a
    contiguous range). With dynamic sizes (an inference model's batch and
    sequence) the iteration count is checked at run time (`scf.if`: the op
    as it was below `min-iterations`, so a decode step's small maps stay on
    the calling thread) and that loop and the next parallel one are split
    in about 16 chunks computed from the run-time sizes. Ops inside an
    `scf.forall`, micro-kernel calls (`library_call`), ops a `tailor.*`
    attribute marks and generics whose body has side effects (a Gather's
    bounds check: its error path belongs to the calling thread) are left
    alone.
  }];
  let options = [
    Option<"minIterations", "min-iterations", "int64_t", /*default=*/"16384",
           "Ops with fewer loop iterations stay on one thread (checked at run time for dynamic sizes)">
  ];
  let dependentDialects = ["::mlir::scf::SCFDialect",
                           "::mlir::tensor::TensorDialect"];
  let statistics = [
    Statistic<"numParallelized", "parallelized", "Generics split over threads">
  ];
}

def TailorTileTransposes : Pass<"tailor-tile-transposes", "func::FuncOp"> {
  let summary = "Tile transposes of the innermost dim into blocks shared "
                "by the threads";
  let description = [{
    A `linalg.transpose` on tensors whose permutation moves the innermost
    dim (a backward pass's X^T, attention's P^T) writes rows while reading
    columns; with long rows every read lands on another page and the same
    L1 set. The output dim and the dim that reads the input's innermost one
    are tiled into `block` x `block` blocks (other dims by 1) under an
    `scf.forall` (OpenMP in the CPU pipeline), so each block's reads and
    writes stay in L1. Dynamic or smaller sizes and transposes inside loops
    are left alone.

    Example: `[8, 128, 1024] -> [8, 1024, 128]` becomes an scf.forall over
    (8, 64, 8) blocks of `[1, 16, 16]`.
  }];
  let options = [
    Option<"block", "block", "int64_t", /*default=*/"16",
           "Block size along both transposed dims">
  ];
  let dependentDialects = ["::mlir::scf::SCFDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::vector::VectorDialect"];
  let statistics = [
    Statistic<"numTiled", "tiled", "Transposes tiled into blocks">
  ];
}

def TailorTileContractions
    : Pass<"tailor-tile-contractions", "func::FuncOp"> {
  let summary = "Tile f32 contractions to a register micro-kernel and "
                "vectorize them";
  let description = [{
    The CPU strategy for matrix products, on tensors before bufferization.
    Every f32 linalg contraction with one M, one N and one K dim (any batch
    dims; `linalg.matmul` and the batched products the lowering emits as
    `linalg.generic`) is tiled to `mc` x `nc` x `kc` cache tiles, then to an
    `mr` x `nr` register tile with K innermost, one K step per iteration. The M and N loops are peeled, so
    full tiles have static shapes whatever the problem size (dynamic sizes
    included); a dynamic M remainder of fewer than `mr` rows is switched on
    its count (a static kernel per count); fewer than `mr` rows in all (a
    decode step) run as a matrix-vector product with K outside N, so the
    weights are read row-contiguously, `kr` rows at a time, over `mv-tiles`
    register tiles at once. Every static tile becomes one `vector.contract`; a
    dynamic N remainder stays a scalar loop nest. The accumulator tile is hoisted out of the K loop, so it
    stays in registers: with the defaults, 8 x 32 f32 = 16 zmm accumulators,
    8 broadcasts and 2 loads per K step (see ../shared/notes/cpu-codegen.md);
    the CPU target picks 6 x 16 (12 ymm accumulators) on AVX2-only CPUs.

    A `linalg.generic` that a micro-kernel computes (`library_call`
    `tailor_*`, e.g. the int4 product) is only split for the threads: an
    `scf.forall` over chunks of `kernel-columns` output columns, each a call.
  }];
  let options = [
    Option<"mr", "mr", "int64_t", /*default=*/"8",
           "Rows of the register tile">,
    Option<"nr", "nr", "int64_t", /*default=*/"32",
           "Columns of the register tile (a multiple of the vector width)">,
    Option<"kr", "kr", "int64_t", /*default=*/"8",
           "Weight rows read at once by the single-row (decode) kernel">,
    Option<"mc", "mc", "int64_t", /*default=*/"128",
           "Rows of the cache tile (A block: mc x kc)">,
    Option<"nc", "nc", "int64_t", /*default=*/"128",
           "Columns of the cache tile (B panel: kc x nc)">,
    Option<"kc", "kc", "int64_t", /*default=*/"512",
           "Depth of the cache tile">,
    Option<"threads", "threads", "bool", /*default=*/"true",
           "Distribute cache tiles (matrix-vector: column chunks) over "
           "threads with scf.forall (lowered to OpenMP by the CPU pipeline)">,
    Option<"minTiles", "min-tiles", "int64_t", /*default=*/"4",
           "With threads: narrow the cache tiles' columns (down to nr, or "
           "one packed panel) until a product with static sizes has at "
           "least this many cache tiles, and an even count of them">,
    Option<"ncThreads", "nc-threads", "int64_t", /*default=*/"256",
           "Weight columns per thread chunk in the matrix-vector kernel">,
    Option<"mvTiles", "mv-tiles", "int64_t", /*default=*/"4",
           "Register tiles (of nr columns, or packed panels) the "
           "matrix-vector kernel accumulates at once: independent FMA "
           "chains that keep enough weight loads in flight">,
    Option<"kernelColumns", "kernel-columns", "int64_t", /*default=*/"64",
           "Output columns per thread chunk of a micro-kernel call "
           "(a multiple of 8)">
  ];
  let dependentDialects = [
    "::mlir::vector::VectorDialect", "::mlir::scf::SCFDialect",
    "::mlir::affine::AffineDialect", "::mlir::tensor::TensorDialect",
    "::mlir::linalg::LinalgDialect", "::mlir::arith::ArithDialect"
  ];
}

def TailorAutodiff : Pass<"tailor-autodiff", "ModuleOp"> {
  let summary = "Reverse-mode differentiation: the entry also returns the "
                "gradients of its loss";
  let description = [{
    The entry's first result is the loss (a floating-point tensor of one
    element). This pass appends the gradient of the loss with respect to
    each selected argument (`wrt`: argument names; default the arguments
    tailor-peft marked `tailor.trainable`, else every floating-point
    argument not marked `tailor.data`) as a further result named `grad.<argument>`,
    with the argument's type. Weights that stay constants are frozen: only
    arguments are trainable.

    The gradient is built in the tailor dialect from a rule per op, walking
    the function backwards from the loss (adjoints of values used several
    times are summed; broadcast operands get their adjoint summed back to
    their shape), so it lowers and compiles like the forward ops. Ops that
    an argument's value flows through and that have no rule are an error
    naming the op and its ONNX node.

    Rules: ONNX Add, Sub, Mul, Div, Neg, Identity, Relu, Tanh, Sigmoid,
    Exp, Log, Sqrt, Reciprocal, Pow, Erf, Sin, Cos, MatMul, Gemm, ReduceSum,
    ReduceMean, Reshape, Squeeze, Unsqueeze, Flatten, Transpose, Expand,
    Slice (constant bounds, unit steps, static sliced dims), Concat and
    Split (static sizes along the axis), Softmax, LogSoftmax,
    LayerNormalization (its normalized output), Gather (axis 0: embedding
    tables), Where, Cast between float types; tailor.linear (float
    weights).
  }];
  let options = [
    ListOption<"wrt", "wrt", "std::string",
               "Names of the arguments to differentiate with respect to "
               "(default: the tailor.trainable arguments, else every "
               "floating-point argument)">
  ];
  let dependentDialects = ["::mlir::tailor::TailorDialect",
                           "::mlir::tensor::TensorDialect"];
  let statistics = [
    Statistic<"numAdjoints", "adjoints", "Ops differentiated">
  ];
}

def TailorLoss : Pass<"tailor-loss", "ModuleOp"> {
  let summary = "Append a training loss to a language model's entry";
  let description = [{
    Appends a first result `loss` (the model's results follow) and the
    inputs the loss needs. Every kind but `reward` reads the logits
    `[N, S, V]` (the first result) and a new input `labels` (int64
    `[N, S]`): the logits at position t predict `labels[t + 1]`, positions
    whose label is `ignore-index` (prompt tokens, padding) are left out.

    - `sft`: the causal-LM cross-entropy as Hugging Face computes it
      (TRL's SFT): the mean over the kept positions of
      `-log softmax(logits_t)[label_t]`.
    - Preference losses take the rows as TRL concatenates them: `N = 2B`,
      rows `[0, B)` the chosen and `[B, 2B)` the rejected completions of
      the same prompts. A row's log-probability is the sum over its kept
      positions (`|y|`: their count). The DPO family (`dpo`, `robust`,
      `hinge`, `ipo`) adds an input `ref_logps` `[N]` (the reference
      model's row log-probabilities) and the results `chosen_rewards` and
      `rejected_rewards` (`beta * rho`, `rho = logp - ref_logps`);
      `Delta = rho_c - rho_r`:
      `dpo`: `-(1 - e) log sigmoid(beta Delta) - e log sigmoid(-beta Delta)`
      (TRL <= 0.9's sigmoid with label smoothing e);
      `robust`: `[-(1 - e) log sigmoid(beta Delta) + e log sigmoid(-beta
      Delta)] / (1 - 2e)`; `hinge`: `relu(1 - beta Delta)`; `ipo`:
      `(rho_c / |y_c| - rho_r / |y_r| - 1 / (2 beta))^2`; each the mean over
      the B pairs.
      `simpo` (no reference): with average log-probs `a = logp / |y|`,
      `-log sigmoid(beta (a_c - a_r) - gamma)` (label smoothing as dpo).
      `orpo` (no reference): the NLL of the chosen completions (mean over
      their kept tokens) `+ beta * mean(-log sigmoid(log odds))`,
      `log odds = (a_c - a_r) - (log(1 - e^a_c) - log(1 - e^a_r))`.
    - `kto` (TRL's KTO): rows `[0, M)` are examples with an input
      `desirable` (bool `[M]`), rows `[M, 2M)` the mismatched (prompt,
      another example's completion) pairs of the KL estimate; with
      `ref_logps` `[2M]`, `rho = logp - ref_logps`,
      `kl = max(0, mean(rho over [M, 2M)))` (not differentiated:
      `tailor.stop_gradient`), each example's loss is
      `desirable-weight * (1 - sigmoid(beta (rho - kl)))` if desirable,
      else `undesirable-weight * (1 - sigmoid(beta (kl - rho)))`; the mean
      over the M examples. Results `rewards` (`beta * rho`), `kl` and
      `logps` (every row's log-probability, for a reference pass).
    - `reward`: Bradley-Terry for a reward model whose first result is the
      scores `[N]` or `[N, 1]` (rows as above): `mean(-log sigmoid(r_c -
      r_r)) + center-rewards * mean((r_c + r_r)^2)`.
    - `kd`: knowledge distillation from an input `teacher_logits`
      (`[N, S, V]`): at each kept position the KL divergence between the
      softmaxes of teacher and student logits divided by `temperature`,
      `forward` `KL(teacher || student)` or `reverse`
      `KL(student || teacher)`, the mean over the kept positions (TRL
      GKD's generalized_jsd_loss at beta 0 / 1, batchmean with labels).

    The inputs a loss adds are marked `tailor.data` (tailor-autodiff's
    default leaves them out); the DPO family also returns `logps` (each
    row's log-probability).

    Every scalar result named `aux_loss.*` (a regulariser a PEFT method
    returns: AdaLoRA's orthogonality) is added to the loss.

    `router-aux-coef` > 0 adds Hugging Face's MoE load-balancing loss
    (Mixtral's load_balancing_loss_func, Switch eq. 4-6) times the
    coefficient: over the results named `router_logits*` (`[..., E]`, all
    layers' tokens together), `E * sum_e f_e P_e`, `f_e` the mean over
    tokens of how often e is among the `router-top-k` experts, `P_e` the
    mean router probability (only P is differentiated).

    Differentiate it with `tailor-autodiff`.
  }];
  let options = [
    Option<"kind", "kind", "std::string", /*default=*/"\"sft\"",
           "The loss: sft, dpo, robust, hinge, ipo, simpo, orpo, kto, "
           "reward, kd">,
    Option<"ignoreIndex", "ignore-index", "int64_t", /*default=*/"-100",
           "Label value of the positions the loss leaves out">,
    Option<"beta", "beta", "double", /*default=*/"0.1",
           "Preference losses: the temperature of the implied reward "
           "(ORPO: the weight of the odds-ratio term)">,
    Option<"labelSmoothing", "label-smoothing", "double", /*default=*/"0.0",
           "dpo, robust, simpo: the label noise e in [0, 0.5)">,
    Option<"simpoGamma", "simpo-gamma", "double", /*default=*/"0.5",
           "simpo: the target reward margin gamma">,
    Option<"centerRewards", "center-rewards", "double", /*default=*/"0.0",
           "reward: the weight of mean((r_c + r_r)^2)">,
    Option<"temperature", "temperature", "double", /*default=*/"1.0",
           "kd: logits are divided by it">,
    Option<"routerAuxCoef", "router-aux-coef", "double", /*default=*/"0.0",
           "The weight of the MoE load-balancing loss (0: none)">,
    Option<"routerTopK", "router-top-k", "int64_t", /*default=*/"2",
           "Experts per token of the load-balancing loss">,
    Option<"desirableWeight", "desirable-weight", "double", /*default=*/"1.0",
           "kto: the weight of desirable examples' losses">,
    Option<"undesirableWeight", "undesirable-weight", "double",
           /*default=*/"1.0",
           "kto: the weight of undesirable examples' losses">,
    Option<"kdDirection", "kd-direction", "std::string",
           /*default=*/"\"forward\"",
           "kd: forward (KL(teacher || student)) or reverse">
  ];
  let dependentDialects = ["::mlir::tailor::TailorDialect"];
}

def TailorOptimizer : Pass<"tailor-optimizer", "ModuleOp"> {
  let summary = "Compile the optimizer's parameter update into a training "
                "step";
  let description = [{
    Runs after tailor-autodiff: the entry returns the loss and
    `grad.<name>` for each trainable argument `<name>` (float32). The step
    this pass makes takes new inputs `lr` and `step` (float32 scalars: the
    learning rate of this step, from the host's schedule, and the 1-based
    optimizer step number for Adam's bias correction) and the optimizer
    state, and returns `loss`, `grad_norm` (the global L2 norm of the
    gradients before clipping), the updated parameters (named like the
    arguments) and the updated state (named like its inputs). The model's
    other results (logits, gradients) are dropped.

    The formulas are PyTorch's, to compare with: `kind=adamw` is
    torch.optim.AdamW (state `exp_avg.<name>`, `exp_avg_sq.<name>`; bias
    correction; decoupled weight decay `p *= 1 - lr * weight-decay`);
    `kind=sgd` is torch.optim.SGD (weight decay added to the gradient;
    `momentum` > 0 keeps `momentum_buffer.<name>`; `nesterov`).
    `max-grad-norm` > 0 clips like torch.nn.utils.clip_grad_norm_ (scale
    `min(1, max / (norm + 1e-6))`). `accumulate=k` > 1 adds a bool input
    `apply_update` and state `grad_acc.<name>`: a run with `apply_update`
    false adds its gradient to `grad_acc` and keeps the parameters; the
    k-th (true) updates with the mean of the k gradients and resets
    `grad_acc` to zero. State starts at zero.

    `return-grads` (regexes of parameter names) also returns, after the
    state, `grad.<name>` for each matching parameter: the gradient the
    update used (the accumulated mean, clipped), as `p.grad` holds it
    after clip_grad_norm_ (AdaLoRA's importance scores read it).
  }];
  let options = [
    Option<"kind", "kind", "std::string", /*default=*/"\"adamw\"",
           "The optimizer: adamw or sgd">,
    Option<"beta1", "beta1", "double", /*default=*/"0.9",
           "AdamW: decay of the first moment">,
    Option<"beta2", "beta2", "double", /*default=*/"0.999",
           "AdamW: decay of the second moment">,
    Option<"eps", "eps", "double", /*default=*/"1e-8",
           "AdamW: added to the denominator">,
    Option<"weightDecay", "weight-decay", "double", /*default=*/"0.0",
           "Weight decay (AdamW: decoupled; SGD: L2 added to the gradient)">,
    Option<"momentum", "momentum", "double", /*default=*/"0.0",
           "SGD: momentum (0: none)">,
    Option<"nesterov", "nesterov", "bool", /*default=*/"false",
           "SGD: Nesterov momentum">,
    Option<"maxGradNorm", "max-grad-norm", "double", /*default=*/"0.0",
           "Clip the gradients to this global L2 norm (0: no clipping)">,
    Option<"accumulate", "accumulate", "int64_t", /*default=*/"1",
           "Micro-batches per optimizer step (gradient accumulation)">,
    ListOption<"returnGrads", "return-grads", "std::string",
               "Regexes of the parameters whose (clipped, accumulated) "
               "gradient the step also returns as grad.<name>">
  ];
  let dependentDialects = ["::mlir::tailor::TailorDialect"];
  let statistics = [
    Statistic<"numUpdated", "parameters", "Parameters updated by the step">
  ];
}

def TailorRecompute : Pass<"tailor-recompute", "ModuleOp"> {
  let summary = "Activation recomputation (gradient checkpointing) in a "
                "training step";
  let description = [{
    Runs after `tailor-autodiff`. The forward pass (the ops the `loss`
    result depends on) is cut into segments at its cut points: positions
    where a single activation (the residual stream between blocks and
    sub-blocks of a transformer) carries everything later ops need, apart
    from values that live through most of the forward (masks, rotary
    tables). Checkpoints are chosen among the cut points; the activations a
    segment saves for the backward pass are not kept: right before the
    first backward op that reads one of them, the segment's ops are
    computed again from its checkpoint, and the backward reads the copies.
    The forward values then die at their last forward use. The segment the
    backward reads first (the loss's) is never recomputed.

    Policies: `sqrt` (checkpoints every ceil(sqrt(n)) of the n cut points),
    `every-k` (every `k`-th cut point), `budget` (the sqrt segments,
    recomputing from the first segment on only as many as needed to bring
    the estimated saved activations under `budget` bytes), `none`.
    The recomputed ops are the same ops on the same inputs: gradients are
    bit-identical. A remark reports the segments and the estimated bytes of
    saved activations before and after (static shapes only; see
    `tailor-specialize-inputs`).
  }];
  let options = [
    Option<"policy", "policy", "std::string", "\"sqrt\"",
           "sqrt, every-k, budget or none">,
    Option<"k", "k", "int64_t", "2",
           "every-k: a checkpoint every k cut points">,
    Option<"budget", "budget", "int64_t", "0",
           "budget: bytes of saved activations to stay under">
  ];
  let dependentDialects = ["::mlir::tailor::TailorDialect"];
  let statistics = [
    Statistic<"numCutPoints", "cut-points", "Cut points of the forward pass">,
    Statistic<"numSegments", "segments-recomputed", "Segments recomputed">,
    Statistic<"numCloned", "ops-recomputed", "Forward ops computed again">
  ];
}

def TailorEraseRecomputeBarriers
    : Pass<"tailor-erase-recompute-barriers", "func::FuncOp"> {
  let summary = "Replace every tailor.recompute_barrier by its operand";
  let description = [{
    Runs once the kernels are outlined into calls (CSE does not merge
    calls), before bufferization.
  }];
}

def TailorLoadWeights : Pass<"tailor-load-weights", "ModuleOp"> {
  let summary = "Replace the model's weights by trained ones from a "
                "safetensors file";
  let description = [{
    The inverse of `tailor-peft method=full`: the entry's named weights get
    the names tailor-peft gives them (`<module>.weight` for a MatMul's
    weight, stored as PyTorch's `[out, in]`; initializer names otherwise),
    and each one the file holds replaces the constant (transposed back for
    MatMul weights). What `tailor-train --method full` writes
    (`model.safetensors`) thus compiles: `tailor-compile --weights FILE`.
    Runs on the ONNX-level graph (before raising). F32, F16 and BF16
    tensors are read.

    Errors: an unreadable file, a tensor whose shape differs from the
    weight's, a tensor no weight of the model is named after.
  }];
  let options = [
    Option<"path", "file", "std::string", /*default=*/"",
           "The safetensors file of trained weights">
  ];
  let dependentDialects = ["::mlir::tailor::TailorDialect"];
  let statistics = [
    Statistic<"numLoaded", "weights-loaded", "Weights replaced from the file">
  ];
}

def TailorPeft : Pass<"tailor-peft", "ModuleOp"> {
  let summary = "Make a model's weights trainable (parameter-efficient "
                "fine-tuning methods; full fine-tuning)";
  let description = [{
    `method=full`: every floating-point weight (a named initializer
    constant, not a scalar) whose name matches a `target` regex and no
    `exclude` regex becomes an argument of the entry, appended in program
    order and named after the weight: the initializer's name, or for a
    matrix that an ONNX MatMul takes as its right operand `<module>.weight`
    from the MatMul's node (`/blocks.0/attn/q/MatMul` ->
    `blocks.0.attn.q.weight`; marked `tailor.transposed`, since it is the
    transpose of PyTorch's `[out, in]` Linear weight). A copy named by the
    exporter (`onnx::...`) that holds another lifted weight's transpose (a
    tied lm_head) reads `Transpose` of that argument: one parameter.
    Equal initializers that an exporter merged stay one parameter (their
    gradients add up). tailor-autodiff then
    differentiates with respect to them (its default: every float
    argument).

    `method=bitfit` (BitFit, arXiv 2106.10199): as `full`, but only the
    bias vectors (1-D weights named `*.bias`) become arguments.

    `method=lora` (LoRA, arXiv 2106.09685, as Hugging Face PEFT defines
    it): the base weights stay frozen constants; each ONNX MatMul whose
    right operand is a constant weight of a module matching `target`
    (default: every such module) gets `y += s * (x A^T) B^T` with new
    arguments `<module>.lora_A.weight` [r, in] and `<module>.lora_B.weight`
    [out, r] (PEFT's shapes and names), `s = alpha / r`, or
    `alpha / sqrt(r)` with `rslora`. `dora` (DoRA, arXiv 2402.09353, as
    PEFT computes it): also an argument `<module>.lora_magnitude_vector`
    [out] (initially the norms of the rows of PyTorch's [out, in] weight)
    and `y = base + (m / n - 1) base + (m / n) s (x A^T) B^T` with
    `n = ||W + s B A||` per output row, not differentiated (the paper's
    section 4.3; PEFT detaches it). `lora-fa` (LoRA-FA, arXiv
    2308.03303): A is an input marked `tailor.frozen` (fed its initial
    value, never updated), only B trains.

    `method=adalora` (AdaLoRA, arXiv 2303.10512, as PEFT's SVDLinear
    computes it): LoRA's sites with the SVD-shaped update
    `y += s / (r + 1e-5) (x (A * E)^T) B^T`, arguments `<module>.lora_A`
    [r, in] and `<module>.lora_B` [out, r] (normal(0, 0.02), marked
    `tailor.init_std`) and the singular values `<module>.lora_E` [r, 1]
    (zeros), `s = alpha` (r when alpha is 0), `r` the initial rank. The
    orthogonality regulariser `orth-reg-weight * mean(||A A^T - I||_F,
    ||B^T B - I||_F over the factors)` becomes a result named
    `aux_loss.adalora_orth`, which tailor-loss adds to the loss. The rank
    reallocation (importance scores, budget schedule, masking E) runs on
    the host after each step (tailor-train; tailor::adalora::RankAllocator).

    `method=ia3` ((IA)3, arXiv 2205.05638, as PEFT defines it): at each
    target linear a trainable vector `<module>.ia3_l`, all ones initially,
    scales the output (`[out, 1]`, after the bias), or for a module that
    matches `feedforward` the input (`[1, in]`). Default targets: modules
    named `k`, `v`, `down` (or `k_proj`, `v_proj`, `down_proj`, `key`,
    `value`, `fc2`, `w2`); default `feedforward`: `down`, `down_proj`,
    `fc2`, `w2`.

    `method=adapter` (bottleneck adapters; serial: Houlsby et al., arXiv
    1902.00751; parallel: He et al., arXiv 2110.04366): at each target
    linear with output h and input x, serial: `h + f(h Wd^T + bd) Wu^T +
    bu`; parallel: `h + s (f(x Wd^T + bd) Wu^T + bu)`. New arguments
    `<module>.adapter.down.weight` `[bottleneck, width]` (kaiming-uniform),
    `.down.bias`, `.up.weight` `[out, bottleneck]` and `.up.bias` (zeros:
    the model is unchanged at the start). Default targets: the attention
    output and MLP output projections (`o`, `o_proj`, `out_proj`, `proj`,
    `down`, `down_proj`, `out`, `fc2`, `w2`).

    `method=prefix` (prefix tuning, arXiv 2101.00190, as PEFT feeds it
    through `past_key_values`): for a model exported with a KV cache, each
    `past_*` input [B, H, past, D] is replaced by a learned
    `prefix.<input>` [1, H, P, D] (P = `virtual-tokens`) repeated over the
    batch; the exported model offsets the positions and extends the
    causal mask by the cache's length, as Hugging Face's models do.

    `method=prompt` (prompt tuning, arXiv 2104.08691): the first P token
    embeddings (of the Gather of a constant table by `input_ids`) are
    replaced by a learned `prompt_embeddings` [P, D]; the caller prepends
    P placeholder ids and P ignored labels (tailor-train does), so that
    the model sees PEFT's `cat(prompt, embed(ids))`. Both initialise
    normal(0, 1) (PEFT's embedding default).
  }];
  let options = [
    Option<"method", "method", "std::string", /*default=*/"\"full\"",
           "The method: full (every matching weight trains), bitfit (only "
           "the biases), lora, adalora, ia3, adapter, prefix or prompt">,
    Option<"rank", "r", "int64_t", /*default=*/"8",
           "LoRA rank (AdaLoRA: the initial rank)">,
    Option<"alpha", "alpha", "double", /*default=*/"16",
           "LoRA alpha (the scale is alpha / r)">,
    Option<"rslora", "rslora", "bool", /*default=*/"false",
           "Rank-stabilised LoRA: the scale is alpha / sqrt(r)">,
    Option<"loraFA", "lora-fa", "bool", /*default=*/"false",
           "LoRA-FA: A stays frozen at its random initial value (marked "
           "tailor.frozen, not tailor.trainable); only B trains">,
    Option<"dora", "dora", "bool", /*default=*/"false",
           "DoRA: LoRA plus a trainable magnitude per output (PEFT's "
           "use_dora)">,
    ListOption<"target", "target", "std::string",
               "Regexes of the weight (full, bitfit) or module (lora, ia3, "
               "adapter) names that train (default: all; ia3 and adapter "
               "have their own defaults, see the description)">,
    ListOption<"exclude", "exclude", "std::string",
               "Regexes of weight names that stay frozen constants">,
    ListOption<"feedforward", "feedforward", "std::string",
               "ia3: regexes of the modules whose input is scaled (default: "
               "down, down_proj, fc2, w2); other targets scale their output">,
    Option<"bottleneck", "bottleneck", "int64_t", /*default=*/"64",
           "adapter: the bottleneck width">,
    Option<"placement", "placement", "std::string", /*default=*/"\"serial\"",
           "adapter: serial (reads the linear's output) or parallel (reads "
           "its input, adds to its output)">,
    Option<"activation", "activation", "std::string", /*default=*/"\"relu\"",
           "adapter: the nonlinearity, relu, gelu, silu, tanh or none">,
    Option<"scaling", "scaling", "double", /*default=*/"1.0",
           "adapter: the parallel adapter's scale s">,
    Option<"virtualTokens", "virtual-tokens", "int64_t", /*default=*/"20",
           "prefix, prompt: the number of virtual tokens P">,
    Option<"orthRegWeight", "orth-reg-weight", "double", /*default=*/"0.5",
           "adalora: the weight of the orthogonality regulariser (> 0)">
  ];
  let dependentDialects = ["::mlir::tailor::TailorDialect"];
  let statistics = [
    Statistic<"numLifted", "trainable", "Weights made trainable arguments">
  ];
}

def TailorKVCacheInPlace : Pass<"tailor-kv-cache-in-place", "ModuleOp"> {
  let summary = "Update the KV cache in place: capacity-backed cache inputs "
                "and a length instead of Concat(past, new) per step";
  let description = [{
    A decoder exported with a KV cache takes `past_*` inputs and returns
    `present_* = Concat(past, new, axis = 2)`: every step copies the whole
    cache into a new buffer. When the entry function has that form exactly
    (input 0 the [batch, sequence] token ids, inputs 1..N rank-4 caches
    [B, H, T, D] with static H and D, each used by one Concat along axis 2
    whose result is returned as output i), this pass rewrites it:

    - input i becomes a buffer with room for more positions than it holds
      ([B, H, capacity, D]), and a last input `tailor.cache_length`
      (int64 scalar) says how many are valid;
    - the new keys/values are written into it at [length, length + S) with
      `tensor.insert_slice` (in place after bufferization), and the
      attention reads the view of its first length + S positions;
    - output i returns the updated cache (an alias of input i, which
      bufferization drops from the results);
    - run-time checks: the new positions' count equals the token count and
      length + S fits the capacity.

    Other users of a past input see its first `length` positions. The entry
    gets `tailor.kv_caches = N`; the runtime (sessions, and `run`, which
    copies a caller's past into a fresh cache) drives the new form. Models
    of any other form are left alone.
  }];
  let dependentDialects = ["::mlir::tensor::TensorDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::cf::ControlFlowDialect"];
  let statistics = [
    Statistic<"numCaches", "caches", "KV cache inputs updated in place">
  ];
}

def TailorDropKVCacheResults
    : Pass<"tailor-drop-kv-cache-results", "ModuleOp"> {
  let summary = "Drop the cache results of an entry that updates its KV "
                "caches in place (after bufferization)";
  let description = [{
    tailor-kv-cache-in-place returns each updated cache as output i of the
    entry; once bufferized in place, that output is the cache argument's
    own buffer. Upstream's drop-equivalent-buffer-results leaves public
    functions alone, so this pass drops those outputs from the entry
    (`tailor.kv_caches = N`): the caller already holds the buffers. An
    output that is not its argument's buffer means bufferization copied the
    cache, so the caller's buffer would not be updated: an error naming the
    function, instead of a model that breaks the runtime's calling
    convention (tailor-c/abi.h).
  }];
  let dependentDialects = ["::mlir::memref::MemRefDialect"];
}

def TailorOutlineKernels : Pass<"tailor-outline-kernels", "ModuleOp"> {
  let summary = "Outline linalg ops into shared kernel functions";
  let description = [{
    Every linalg op becomes a `func.call` to a private
    function (`tailor.kernel`) holding just that op; its operands, and the
    values its body captures, become arguments (small constants are cloned
    in). Kernels whose bodies are identical are shared, so a decoder's N
    identical layers compile one set of kernels: later passes and LLVM see
    about 1/N of the code, in functions small enough for LLVM's optimizer.
    A contraction whose output a `linalg.fill` initializes takes the fill
    into its kernel (a copy, when several products share one fill; re-made
    on the reshaped init when the output is viewed as column panels), so
    that tailor-tile-contractions can start the accumulators at its value.
  }];
  let dependentDialects = ["::mlir::func::FuncDialect"];
  let statistics = [
    Statistic<"numKernels", "kernels", "Kernel functions created">,
    Statistic<"numCalls", "calls", "Linalg ops replaced by calls">
  ];
}

def TailorPackWeights : Pass<"tailor-pack-weights", "func::FuncOp"> {
  let summary = "Pack constant matmul weights into column panels";
  let description = [{
    A `linalg.matmul` whose right operand is a constant `[K, N]` (a model
    weight) with `N` a multiple of `panel` reads it as `panel`-wide column
    blocks; stored row-major, each block is `K` strided reads. This pass
    stores the weight as `[N/panel, K, panel]` (each block contiguous:
    one stream from memory, which is what a matrix-vector product at decode
    time is bound by) and rewrites the product as a contraction over
    `(m, n/panel, n%panel, k)` whose result `[M, N/panel, panel]` is the
    same memory as `[M, N]` (a collapse_shape, no copy). The packing is
    done at compile time; a weight used by several products is packed once.
  }];
  let options = [
    Option<"panel", "panel", "int64_t", /*default=*/"32",
           "Columns per panel (the micro-kernel's NR)">,
    Option<"minBytes", "min-bytes", "int64_t", /*default=*/"65536",
           "Only weights at least this large are packed">
  ];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::arith::ArithDialect"];
  let statistics = [
    Statistic<"numPacked", "packed", "Weights packed into panels">,
    Statistic<"numProducts", "products", "Products rewritten to packed weights">,
    Statistic<"numBytes", "bytes", "Bytes of weights packed">
  ];
}

def TailorApproximateMath : Pass<"tailor-approximate-math", "func::FuncOp"> {
  let summary = "Replace exp, erf and tanh with polynomial approximations";
  let description = [{
    Upstream MLIR's f32 approximations (range reduction and a minimax
    polynomial) instead of one libm call per element: plain arithmetic that
    LLVM vectorizes with the loop around it (softmax, SiLU, GELU).
  }];
  let dependentDialects = ["::mlir::math::MathDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::vector::VectorDialect"];
}

def TailorReassociateReductions
    : Pass<"tailor-reassociate-reductions", "func::FuncOp"> {
  let summary = "Let reductions be summed in any order (vectorizable)";
  let description = [{
    A reduction's combiner (`out = out + x`, `out * x`, `max`, `min`) is a
    serial chain in IEEE order: LLVM cannot vectorize it, so a norm's sum of
    squares or a softmax's row sum runs one add per 4 cycles. ONNX leaves
    the order of a reduction unspecified; this pass marks the combiners of
    every `linalg.generic` with a reduction iterator `reassoc` (contractions
    too: their scalar remainders), so LLVM sums in vector lanes with several
    accumulators. The result differs from the sequential order by rounding
    only (~1 ulp per log2(n) levels).
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
  let statistics = [
    Statistic<"numCombiners", "combiners", "Reduction combiners marked reassoc">
  ];
}

def TailorAssertToError : Pass<"tailor-assert-to-error", "ModuleOp"> {
  let summary = "Failed run-time checks call the runtime instead of abort";
  let description = [{
    Runs on the LLVM dialect. `cf.assert` becomes `puts(message); abort()`;
    each such pair becomes a call to `tailor_rt_fail(message)`, which the C
    runtime turns into an error returned by the run (the message says which
    check failed), so a bad combination of dynamic input sizes never kills
    the embedding process.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
  let statistics = [
    Statistic<"numRewritten", "rewritten", "Failed-check exits rewritten">
  ];
}

def TailorFuseElementwise : Pass<"tailor-fuse-elementwise", "func::FuncOp"> {
  let summary = "Fuse elementwise linalg ops, but not into contractions";
  let description = [{
    Upstream's elementwise fusion and reshape propagation, with one
    difference: an elementwise producer is never fused into a consumer that
    is a contraction (a matrix product), which would stop being one and
    lose the register-tiled micro-kernel of `tailor-tile-contractions`
    (e.g. rotary's add fused into Q.K^T, softmax's division into P.V).
    Powers with a constant exponent (RMSNorm's `x^2`) become
    multiplications or square roots instead of a libm `pow` per element.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::affine::AffineDialect"];
}

def TailorLowerLibraryCalls
    : Pass<"tailor-lower-library-calls", "ModuleOp"> {
  let summary = "Turn micro-kernel generics (library_call tailor_*) on "
                "buffers into calls";
  let description = [{
    After bufferization: every `linalg.generic` whose `library_call` names
    one of Tailor's micro-kernels (lib/Runtime/UKernels.c) becomes a
    `func.call` of it with its memref operands (cast to fully dynamic
    strided layouts), through upstream's LinalgToStandard pattern; the
    callee is declared with `llvm.emit_c_interface` (the kernel receives
    memref descriptors). Operand ranks and element types are checked
    against the kernel's signature first: a mismatch, or an unknown
    `tailor_*` name, is an error at the op. Other linalg ops, library_call
    or not, are left alone.
  }];
  let dependentDialects = ["::mlir::func::FuncDialect",
                           "::mlir::memref::MemRefDialect"];
  let statistics = [
    Statistic<"numCalls", "calls", "Micro-kernel calls emitted">
  ];
}

def TailorLowerReductions
    : Pass<"tailor-lower-reductions", "func::FuncOp"> {
  let summary = "Reduction generics on buffers to loops that keep the "
                "accumulator in a register";
  let description = [{
    Runs on buffers before `convert-linalg-to-loops`. A `linalg.generic`
    whose reduction loops all follow its parallel loops and whose outputs
    are indexed by the parallel loops only (a softmax's row maximum and
    exponential sum, a norm's sum of squares, a backward pass's row sums)
    becomes `scf.for` loops over the parallel dimensions around an
    `scf.for` nest over the reduction dimensions that carries the outputs'
    elements as `iter_args`: each output element is loaded once and stored
    once. convert-linalg-to-loops would load and store it in every
    iteration, and LLVM, unable to prove that the store does not alias the
    input, keeps that chain through memory and vectorizes nothing; with the
    accumulator in a register and the combiner's `reassoc`
    (`tailor-reassociate-reductions`) LLVM vectorizes the inner loop.
    Micro-kernel calls (`library_call`) are left alone.
  }];
  let dependentDialects = ["::mlir::scf::SCFDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::affine::AffineDialect",
                           "::mlir::arith::ArithDialect"];
  let statistics = [
    Statistic<"numLowered", "lowered", "Reductions lowered with register accumulators">
  ];
}

def TailorGateParallelRegions
    : Pass<"tailor-gate-parallel-regions", "func::FuncOp"> {
  let summary = "Run small OpenMP parallel regions on one thread";
  let description = [{
    Runs after `convert-scf-to-openmp`. Waking the threads of an
    `omp.parallel` region and joining them costs about as much as a few
    thousand operations. A decode step (one token) runs hundreds of regions
    whose whole work is about that: a norm of one row, the rotary embedding
    of one token. Each region gets an `if`
    clause comparing an estimate of its work with `min-work`; below it, the
    region runs on the calling thread (OpenMP's serialized region).

    The estimate, computed before the region at run time from the sizes it
    depends on (a prompt's length, say): the loop nest's iteration count
    times the operations of its first iteration, where each `scf.for`
    counts its trip count times its body, an `scf.if` both branches, and any
    other operation one. Bounds are evaluated with the loops' induction
    variables at their lower bounds. A region whose estimate needs a value
    computed from memory, that calls a function (a micro-kernel's product:
    its work is not in its operands, and a decode step's products gain from
    the threads) or that holds another region-carrying operation stays
    unconditionally parallel; so does one whose estimate is a constant
    at or above `min-work`.
  }];
  let options = [
    Option<"minWork", "min-work", "int64_t", /*default=*/"16384",
           "Estimated operations below which a region runs on one thread "
           "(0: leave every region parallel)">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::memref::MemRefDialect"];
  let statistics = [
    Statistic<"numGated", "gated", "Regions given a run-time work test">,
    Statistic<"numSerial", "serial", "Regions always run on one thread "
              "(constant work below min-work)">,
    Statistic<"numUnknown", "unknown", "Regions whose work could not be estimated">
  ];
}

def TailorFoldFillCopies
    : Pass<"tailor-fold-fill-copies", "ModuleOp"> {
  let summary = "A copy of a buffer that only a fill wrote becomes a fill";
  let description = [{
    Runs on buffers after bufferization. CSE merges the identical
    zero-filled init tensors of a model's products into one, and
    bufferization then gives each product that accumulates into it a
    private copy (a reshaped view of it a copy of the copy). A
    `memref.copy` whose source buffer (allocated in the copy's block; through
    full-size reshapes: expand, collapse, cast) is written before the copy
    only by one fill earlier in the same block and otherwise only read by
    copies becomes a `linalg.fill` of the target with that value; a fill whose buffer nothing reads any more is erased.
    A fill is a `linalg.fill` or a call of an outlined kernel
    (`tailor-outline-kernels`) whose only writes are fills of its scalar
    argument into its buffer argument or subviews of it (a fill tiled for
    the threads).
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
  let statistics = [
    Statistic<"numFolded", "folded", "Copies of filled buffers made fills">,
    Statistic<"numErased", "erased", "Fills of buffers nothing read erased">
  ];
}

def TailorEarlyDealloc : Pass<"tailor-early-dealloc", "func::FuncOp"> {
  let summary = "Free owned buffers right after their last use";
  let description = [{
    Runs after MLIR's ownership-based buffer deallocation, which frees every
    buffer at the end of its block under a runtime ownership flag. For a
    buffer allocated in a single-block function that provably does not alias
    anything the function returns (BufferViewFlowAnalysis), the guarded
    dealloc becomes an unconditional `memref.dealloc` right after the last
    use of the buffer or any view of it. A model's intermediate tensors then
    live one layer, not the whole forward pass: lower peak memory and far
    fewer fresh pages to fault in.
  }];
  let dependentDialects = ["::mlir::memref::MemRefDialect"];
  let statistics = [
    Statistic<"numMoved", "moved", "Deallocations moved to the last use">
  ];
}

#endif // TAILOR_PASSES_TD
