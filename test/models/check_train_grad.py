#!/usr/bin/python3
"""Whole-model gradients against PyTorch autograd.

The test models of generate.py (LLaMA: RMSNorm, RoPE, grouped-query
attention, SwiGLU; GPT-2: LayerNorm, GELU, biases) are exported to ONNX and
imported without raising (ONNX-level ops), then

  tailor-opt --tailor-peft=exclude=...       every weight an argument
                                             (not the buffers)
             --tailor-loss                   HF causal-LM cross-entropy
             --tailor-autodiff               d loss / d every weight

compiled and run on seeded token ids and labels (prompt positions -100).
PyTorch computes the same loss (F.cross_entropy on the shifted labels,
ignore_index -100) and autograd the gradients of the same model. The check
fails when the loss differs by more than 1e-5 relative or any weight's
gradient by more than --rtol (1e-4) of that gradient's largest magnitude.
Then LoRA (tailor-peft method=lora on the LLaMA's q and v projections)
against the same adapters in PyTorch.

  check_train_grad.py --bin BUILD/bin --python BUILD/python --work DIR
"""
import argparse
import os
import re
import subprocess
import sys

import numpy as np


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}\n{r.stdout}{r.stderr}")
    return r.stdout


def compare_grads(out, refs, rtol, bad):
    """Each grad.<name> result against refs[name] (relative to the largest
    magnitude); failures go to `bad`. Returns the largest error."""
    worst = 0.0
    for n, rg in refs.items():
        g = np.asarray(out["grad." + n])
        err = np.abs(g - rg).max() / max(np.abs(rg).max(), 1e-30)
        worst = max(worst, err)
        if not err <= rtol:
            bad.append(f"d loss / d {n}: {err:.2e}")
    return worst


def frozen_llama(torch, generate, c):
    """The LLaMA main() exports (seed 0, weights perturbed so that no two
    initializers are equal), frozen, and the generator of the adapters."""
    torch.manual_seed(0)
    model = generate.Llama(c)
    model.eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    for p in model.parameters():
        p.requires_grad_(False)
    return model, torch.Generator().manual_seed(5)


def lora_hooks(torch, model, gen, c, r, alpha):
    """LoRA branches on the q and v projections (forward hooks: y += alpha /
    r * x A^T B^T, A and B random leaves); the leaves by PEFT's names."""
    params = {}
    for m in [f"blocks.{i}.{proj}" for i in range(c.layers) for proj in ("q", "v")]:
        lin = model.get_submodule(m)
        a = (0.1 * torch.randn(r, lin.in_features, generator=gen)).requires_grad_()
        b = (0.1 * torch.randn(lin.out_features, r, generator=gen)).requires_grad_()
        params[m + ".lora_A.weight"], params[m + ".lora_B.weight"] = a, b
        lin.register_forward_hook(
            lambda mod, inp, out, a=a, b=b: out + (alpha / r) * (inp[0] @ a.T @ b.T))
    return params


def check_lora(args, tailor, torch, F, generate):
    """tailor-peft method=lora (r 4, alpha 8, the q and v projections; base
    weights frozen) + loss + autodiff on the LLaMA, against PyTorch with the
    same LoRA branches (y += alpha / r * x A^T B^T, forward hooks) and
    autograd of A and B."""
    name = "llama-opset17"
    family, c, opset, kv = generate.variants()[name]
    mlir = os.path.join(args.work, name + ".mlir")  # from main()'s export
    grad = os.path.join(args.work, name + ".lora.mlir")
    r, alpha = 4, 8.0
    run([os.path.join(args.bin, "tailor-opt"), mlir,
         f"--tailor-peft=method=lora r={r} alpha={alpha} target=q$,v$",
         "--tailor-loss", "--tailor-autodiff", "-o", grad])
    compiled = tailor.load(tailor.compile(grad, grad[:-5] + ".so"))
    model, gen = frozen_llama(torch, generate, c)
    params = lora_hooks(torch, model, gen, c, r, alpha)
    return run_peft_check(args, compiled, model, c, F, torch, params,
                          f"{name} LoRA r={r} on q, v")


def check_ia3(args, tailor, torch, F, generate):
    """tailor-peft method=ia3 (the defaults: k and v scale their outputs,
    mlp.down its input) + loss + autodiff on the LLaMA, against PyTorch
    with PEFT's (IA)3 (forward hooks: out * l^T, input * l) and autograd of
    the vectors (random values around 1, not the initial ones)."""
    name = "llama-opset17"
    family, c, opset, kv = generate.variants()[name]
    mlir = os.path.join(args.work, name + ".mlir")  # from main()'s export
    grad = os.path.join(args.work, name + ".ia3.mlir")
    run([os.path.join(args.bin, "tailor-opt"), mlir, "--tailor-peft=method=ia3",
         "--tailor-raise", "--tailor-loss", "--tailor-autodiff", "-o", grad])
    compiled = tailor.load(tailor.compile(grad, grad[:-5] + ".so"))
    model, gen = frozen_llama(torch, generate, c)
    vectors = {}
    for i in range(c.layers):
        for proj in ("k", "v", "mlp.down"):
            m = f"blocks.{i}.{proj}"
            lin = model.get_submodule(m)
            ff = proj == "mlp.down"
            shape = (1, lin.in_features) if ff else (lin.out_features, 1)
            l = (1 + 0.1 * torch.randn(*shape, generator=gen)).requires_grad_()
            vectors[m + ".ia3_l"] = l
            if ff:
                lin.register_forward_pre_hook(lambda mod, inp, l=l: (inp[0] * l,))
            else:
                lin.register_forward_hook(lambda mod, inp, out, l=l: out * l.reshape(-1))
    return run_peft_check(args, compiled, model, c, F, torch, vectors,
                          f"{name} (IA)3 on k, v (outputs), mlp.down (input)")


def check_adapters(args, tailor, torch, F, generate):
    """tailor-peft method=adapter, serial (GELU, after o and mlp.down) and
    parallel (ReLU, scale 0.5, at mlp.down) + loss + autodiff on the LLaMA,
    against the same bottleneck adapters in PyTorch (forward hooks) and
    autograd of the down/up weights and biases (random values)."""
    name = "llama-opset17"
    family, c, opset, kv = generate.variants()[name]
    mlir = os.path.join(args.work, name + ".mlir")  # from main()'s export
    failures = 0
    for placement, act, scale, targets in (("serial", "gelu", 1.0, ("o", "mlp.down")),
                                           ("parallel", "relu", 0.5, ("mlp.down",))):
        grad = os.path.join(args.work, f"{name}.adapter-{placement}.mlir")
        run([os.path.join(args.bin, "tailor-opt"), mlir,
             f"--tailor-peft=method=adapter bottleneck=3 placement={placement} "
             f"activation={act} scaling={scale} target=" + ",".join(t + "$" for t in targets),
             "--tailor-raise", "--tailor-loss", "--tailor-autodiff", "-o", grad])
        compiled = tailor.load(tailor.compile(grad, grad[:-5] + ".so"))
        model, gen = frozen_llama(torch, generate, c)
        f = F.gelu if act == "gelu" else F.relu
        params = {}
        for i in range(c.layers):
            for t in targets:
                m = f"blocks.{i}.{t}"
                lin = model.get_submodule(m)
                width = lin.in_features if placement == "parallel" else lin.out_features
                p = {k: (0.1 * torch.randn(*shape, generator=gen)).requires_grad_()
                     for k, shape in (("down.weight", (3, width)), ("down.bias", (3,)),
                                      ("up.weight", (lin.out_features, 3)),
                                      ("up.bias", (lin.out_features,)))}
                params.update({f"{m}.adapter.{k}": v for k, v in p.items()})

                def hook(mod, inp, out, p=p):
                    src = inp[0] if placement == "parallel" else out
                    h = f(src @ p["down.weight"].T + p["down.bias"]) @ p["up.weight"].T + p["up.bias"]
                    return out + scale * h
                lin.register_forward_hook(hook)
        failures += run_peft_check(args, compiled, model, c, F, torch, params,
                                   f"{name} {placement} adapters ({act}, scale {scale}) "
                                   f"at {', '.join(targets)}")
    return failures


def check_prefix_prompt(args, tailor, torch, F, generate):
    """tailor-peft method=prefix (the LLaMA exported with a KV cache: its
    past_* inputs become learned prefixes) and method=prompt (the first P
    token embeddings replaced), 3 virtual tokens each, + loss + autodiff,
    against PyTorch: the model called with the prefixes as its past keys
    and values, and with cat(prompt, embed(ids[:, P:])) as PEFT computes
    them; the loss and the gradients of the prefixes / prompt (random
    values)."""
    failures = 0
    p_tokens = 3
    rng = np.random.default_rng(11)
    for method in ("prefix", "prompt"):
        name = "llama-kvcache-opset17" if method == "prefix" else "llama-opset17"
        family, c, opset, kv = generate.variants()[name]
        model, gen = frozen_llama(torch, generate, c)
        mlir = os.path.join(args.work, name + ".mlir")
        if kv:
            kv_model = generate.Llama(c, kv_cache=True)
            kv_model.load_state_dict(model.state_dict())
            kv_model.eval()
            for p in kv_model.parameters():
                p.requires_grad_(False)
            model = kv_model
            onnx_path = os.path.join(args.work, name + ".onnx")
            generate.export_model(model, c, onnx_path, opset, kv)
            run([os.path.join(args.bin, "tailor-compile"), onnx_path, "--raise=false",
                 "--compile-to=optimize", "--emit=mlir", "--mlir-print-debuginfo", "--quiet",
                 "-o", mlir])
        grad = os.path.join(args.work, f"{name}.{method}.mlir")
        run([os.path.join(args.bin, "tailor-opt"), mlir,
             f"--tailor-peft=method={method} virtual-tokens={p_tokens}",
             "--tailor-raise", "--tailor-loss", "--tailor-autodiff", "-o", grad])
        compiled = tailor.load(tailor.compile(grad, grad[:-5] + ".so"))
        ids = rng.integers(0, c.vocab, size=(2, 12), dtype=np.int64)
        labels = ids.copy()
        labels[:, :4] = -100
        if method == "prefix":
            params = {f"prefix.past_{kind}.{i}": torch.randn(1, c.kv_heads, p_tokens, c.head_dim,
                                                             generator=gen).requires_grad_()
                      for i in range(c.layers) for kind in ("key", "value")}
            def forward(ids_t):
                past = [params[f"prefix.past_{kind}.{i}"].expand(2, -1, -1, -1)
                        for i in range(c.layers) for kind in ("key", "value")]
                return model(ids_t, *past)[0]
        else:
            params = {"prompt_embeddings": torch.randn(p_tokens, c.d_model,
                                                       generator=gen).requires_grad_()}
            labels[:, :p_tokens] = -100    # the placeholders' labels
            prompt = params["prompt_embeddings"]
            model.embed.register_forward_hook(
                lambda mod, inp, out: torch.cat([prompt.expand(out.shape[0], -1, -1),
                                                 out[:, p_tokens:]], dim=1))
            forward = model
        failures += run_peft_check(args, compiled, forward, c, F, torch, params,
                                   f"{name} {method} tuning ({p_tokens} virtual tokens)",
                                   ids, labels)
    return failures


def int4_rtn(w_kn, group):
    """tailor-quantize's symmetric int4 round-to-nearest of a [K, N] weight,
    dequantized: per group of `group` rows of each column, s = max|w| / 7
    (min and max taken with 0, s rounded to float32), q = clip(rint(w / s),
    -8, 7), s q in float32."""
    k, n = w_kn.shape
    w = w_kn.astype(np.float64).reshape(k // group, group, n)
    lo = np.minimum(w.min(axis=1, keepdims=True), 0.0)
    hi = np.maximum(w.max(axis=1, keepdims=True), 0.0)
    s = np.maximum(-lo, hi) / 7.0
    s[~(s > 0)] = 1.0
    s = s.astype(np.float32).astype(np.float64)
    q = np.clip(np.rint(w / s), -8, 7)
    return (s.astype(np.float32) * q.astype(np.float32)).reshape(k, n)


def check_qlora(args, tailor, torch, F, generate):
    """QLoRA's form: tailor-peft method=lora (r 4, alpha 8, q and v), the
    linears raised and their frozen weights quantized to int4 (groups of
    32 rows, lm_head kept in float, tailor-quantize), loss, autodiff (the
    quantized linear's input gradient through its dequantized weight),
    against PyTorch with the same weights rounded the same way (a numpy
    copy of the RTN rule) and the same LoRA branches."""
    name = "llama-opset17"
    family, c, opset, kv = generate.variants()[name]
    mlir = os.path.join(args.work, name + ".mlir")  # from main()'s export
    grad = os.path.join(args.work, name + ".qlora.mlir")
    r, alpha, group = 4, 8.0, 32
    run([os.path.join(args.bin, "tailor-opt"), mlir,
         f"--tailor-peft=method=lora r={r} alpha={alpha} target=q$,v$", "--tailor-raise",
         f"--tailor-quantize=mode=int4 group-size={group} exclude=lm_head",
         "--tailor-loss", "--tailor-autodiff", "-o", grad])
    text = open(grad).read()
    quantized = text.count("quant.scast")
    # QLoRA computes in float with the dequantized weights: the int4
    # kernel's float-activation form.
    so = grad[:-5] + ".so"
    run([os.path.join(args.bin, "tailor-compile"), grad, "--int4-activations", "f32",
         "--quiet", "-o", so])
    compiled = tailor.load(so)
    model, gen = frozen_llama(torch, generate, c)
    with torch.no_grad():
        for m, lin in model.named_modules():
            if isinstance(lin, torch.nn.Linear) and m != "lm_head":
                lin.weight.copy_(torch.tensor(int4_rtn(lin.weight.numpy().T, group).T))
    params = lora_hooks(torch, model, gen, c, r, alpha)
    expected = 7 * c.layers   # q k v o gate up down
    if quantized != expected:
        print(f"FAIL {name} QLoRA: {quantized} quantized weights, expected {expected}")
        return 1
    return run_peft_check(args, compiled, model, c, F, torch, params,
                          f"{name} QLoRA (LoRA r={r} on q, v over {quantized} int4 weights, "
                          f"groups of {group})")


def run_peft_check(args, compiled, model, c, F, torch, params, what, ids=None, labels=None):
    """Feeds `params` (name -> PyTorch leaf) to the compiled step; the loss
    and each gradient against PyTorch's forward and autograd."""
    if ids is None:
        rng = np.random.default_rng(11)
        ids = rng.integers(0, c.vocab, size=(2, 12), dtype=np.int64)
        labels = ids.copy()
        labels[:, :4] = -100
    feeds = {"input_ids": ids, "labels": labels}
    names = {i["name"] for i in compiled.inputs} - set(feeds)
    bad = []
    if names != set(params):
        bad.append(f"trainable arguments {sorted(names)}, expected {sorted(params)}")
        print(f"FAIL {what}: " + "; ".join(bad))
        return 1
    for n, t in params.items():
        feeds[n] = t.detach().numpy()
    out = compiled.run(feeds)
    logits = model(torch.tensor(ids))
    ref = F.cross_entropy(logits[:, :-1].reshape(-1, c.vocab),
                          torch.tensor(labels)[:, 1:].reshape(-1), ignore_index=-100)
    ref.backward()
    loss = float(np.asarray(out["loss"]))
    if abs(loss - ref.item()) > 1e-5 * abs(ref.item()):
        bad.append(f"loss {loss} vs PyTorch {ref.item()}")
    worst = compare_grads(out, {n: t.grad.numpy() for n, t in params.items()}, args.rtol, bad)
    if bad:
        print(f"FAIL {what}: " + "; ".join(bad))
        return 1
    print(f"ok   {what}: loss {loss:.6f} (PyTorch {ref.item():.6f}), {len(params)} gradients, "
          f"max relative error {worst:.1e}")
    return 0


def check_bitfit(args, tailor, name, mlir, feeds, params, full_loss):
    """tailor-peft method=bitfit on GPT-2: only the biases are arguments;
    the loss equals the full model's and each bias gradient PyTorch's
    (from the same backward as the full check)."""
    out_mlir = os.path.join(args.work, name + ".bitfit.mlir")
    run([os.path.join(args.bin, "tailor-opt"), mlir, "--tailor-peft=method=bitfit",
         "--tailor-loss", "--tailor-autodiff", "-o", out_mlir])
    compiled = tailor.load(tailor.compile(out_mlir, out_mlir[:-5] + ".so"))
    names = [i["name"] for i in compiled.inputs if i["name"] not in ("input_ids", "labels")]
    out = compiled.run({n: feeds[n] for n in ["input_ids", "labels"] + names})
    bad, worst = [], 0.0
    if not names or any(not n.endswith(".bias") for n in names):
        bad.append(f"trainable arguments {names}")
    loss = float(np.asarray(out["loss"]))
    if abs(loss - full_loss) > 1e-6 * abs(full_loss):
        bad.append(f"loss {loss} vs {full_loss}")
    for n in names:
        g = np.asarray(out["grad." + n])
        r = params[n].grad.numpy()
        err = np.abs(g - r).max() / max(np.abs(r).max(), 1e-30)
        worst = max(worst, err)
        if not err <= args.rtol:
            bad.append(f"d loss / d {n}: {err:.2e}")
    if bad:
        print(f"FAIL {name} BitFit: " + "; ".join(bad))
        return 1
    print(f"ok   {name} BitFit: {len(names)} bias vectors trainable, their gradients within "
          f"{worst:.1e} of PyTorch's")
    return 0


def check_lora_fa(args, tailor):
    """tailor-peft lora-fa=true: A is a frozen input (tailor.frozen), only
    B is differentiated; B's gradient equals plain LoRA's on the same
    values (check_lora's, compared with PyTorch there)."""
    name = "llama-opset17"
    mlir = os.path.join(args.work, name + ".mlir")
    out = {}
    for tag, extra in (("lora", ""), ("fa", " lora-fa=true")):
        path = os.path.join(args.work, f"{name}.{tag}-cmp.mlir")
        run([os.path.join(args.bin, "tailor-opt"), mlir,
             f"--tailor-peft=method=lora r=4 alpha=8 target=q$,v${extra}",
             "--tailor-loss", "--tailor-autodiff", "-o", path])
        out[tag] = (open(path).read(), tailor.load(tailor.compile(path, path[:-5] + ".so")))
    text, fa = out["fa"]
    grads = sorted(o["name"] for o in fa.outputs if o["name"].startswith("grad."))
    frozen = re.findall(r'onnx.name = "([^"]+)", tailor.frozen', text)
    bad = []
    if not grads or any("lora_B" not in g for g in grads) or len(frozen) != len(grads):
        bad.append(f"gradients {grads}, frozen {frozen}")
    rng = np.random.default_rng(3)
    feeds = {"input_ids": rng.integers(0, 128, size=(2, 8), dtype=np.int64)}
    feeds["labels"] = feeds["input_ids"].copy()
    for info in fa.inputs:
        if info["name"] not in feeds:
            feeds[info["name"]] = (0.1 * rng.normal(size=info["shape"])).astype(np.float32)
    got, ref = fa.run(feeds), out["lora"][1].run(feeds)
    for g in grads:
        if not np.array_equal(np.asarray(got[g]), np.asarray(ref[g])):
            bad.append(f"{g} differs from plain LoRA's")
    if bad:
        print(f"FAIL {name} LoRA-FA: " + "; ".join(bad))
        return 1
    print(f"ok   {name} LoRA-FA: {len(frozen)} frozen A inputs, {len(grads)} B gradients "
          "equal to plain LoRA's")
    return 0


def check_dora(args, tailor, torch, F, generate):
    """tailor-peft method=lora dora=true on the LLaMA's q and v against
    PEFT's DoRA formula in PyTorch (forward hooks): y = base + (m/n - 1)
    base + (m/n) s x A^T B^T, n = ||W + s B A|| per row, detached; the
    gradients of A, B and the magnitude m."""
    name = "llama-opset17"
    family, c, opset, kv = generate.variants()[name]
    mlir = os.path.join(args.work, name + ".mlir")
    grad = os.path.join(args.work, name + ".dora.mlir")
    r, alpha = 4, 8.0
    run([os.path.join(args.bin, "tailor-opt"), mlir,
         f"--tailor-peft=method=lora r={r} alpha={alpha} dora=true target=q$,v$",
         "--tailor-loss", "--tailor-autodiff", "-o", grad])
    text = open(grad).read()
    compiled = tailor.load(tailor.compile(grad, grad[:-5] + ".so"))
    model, gen = frozen_llama(torch, generate, c)
    params = {}
    s = alpha / r
    bad = []
    for m in [f"blocks.{i}.{proj}" for i in range(c.layers) for proj in ("q", "v")]:
        lin = model.get_submodule(m)
        w = lin.weight
        a = (0.1 * torch.randn(r, lin.in_features, generator=gen)).requires_grad_()
        b = (0.1 * torch.randn(lin.out_features, r, generator=gen)).requires_grad_()
        init = w.norm(dim=1)
        # The pass's initial magnitude: the rows' norms of the weight.
        match = re.search(re.escape(f'onnx.name = "{m}.lora_magnitude_vector"')
                          + r', tailor.init = dense<\[([^\]]*)\]>', text)
        if not match:
            bad.append(f"{m}: no magnitude argument with its initial value")
        else:
            got = np.array([float(v) for v in match.group(1).split(",")])
            err = np.abs(got - init.numpy()).max() / init.abs().max().item()
            if not err <= 1e-6:
                bad.append(f"{m}: initial magnitude {err:.1e} from ||W||")
        mag = (init * (1 + 0.1 * torch.randn(lin.out_features, generator=gen))).requires_grad_()
        params[m + ".lora_A.weight"] = a
        params[m + ".lora_B.weight"] = b
        params[m + ".lora_magnitude_vector"] = mag

        def hook(mod, inp, out, a=a, b=b, mag=mag, w=w):
            lora = (inp[0] @ a.T @ b.T) * s
            norm = (w + s * (b @ a)).norm(dim=1).detach()
            ratio = mag / norm
            return out + (ratio - 1) * out + ratio * lora
        lin.register_forward_hook(hook)
    rng = np.random.default_rng(11)
    ids = rng.integers(0, c.vocab, size=(2, 12), dtype=np.int64)
    labels = ids.copy()
    labels[:, :4] = -100
    feeds = {"input_ids": ids, "labels": labels}
    for n, t in params.items():
        feeds[n] = t.detach().numpy()
    out = compiled.run(feeds)
    logits = model(torch.tensor(ids))
    ref = F.cross_entropy(logits[:, :-1].reshape(-1, c.vocab),
                          torch.tensor(labels)[:, 1:].reshape(-1), ignore_index=-100)
    ref.backward()
    loss = float(np.asarray(out["loss"]))
    if abs(loss - ref.item()) > 1e-5 * abs(ref.item()):
        bad.append(f"loss {loss} vs PyTorch {ref.item()}")
    worst = compare_grads(out, {n: t.grad.numpy() for n, t in params.items()}, args.rtol, bad)
    if bad:
        print(f"FAIL {name} DoRA: " + "; ".join(bad))
        return 1
    print(f"ok   {name} DoRA r={r} on q, v: loss {loss:.6f} (PyTorch {ref.item():.6f}), "
          f"{len(params)} gradients (A, B, magnitude), max relative error {worst:.1e}")
    return 0


def check_optimizer(args, tailor, torch, F, generate):
    """tailor-optimizer: the update compiled into the LoRA step, against
    torch.optim on the same model, adapters and batches. (a) AdamW with
    decoupled weight decay, clip_grad_norm_ and 2-step gradient
    accumulation (the mean of the micro-batch gradients); (b) SGD with
    Nesterov momentum and weight decay. Three optimizer steps each; every
    loss and every updated parameter and state within --rtol (relative to
    the largest magnitude)."""
    name = "llama-opset17"
    family, c, opset, kv = generate.variants()[name]
    mlir = os.path.join(args.work, name + ".mlir")
    r, alpha = 4, 8.0
    configs = [
        ("adamw", "kind=adamw beta1=0.8 beta2=0.95 eps=1e-6 weight-decay=0.1 "
                  "max-grad-norm=0.05 accumulate=2", 2,
         lambda ps: torch.optim.AdamW(ps, lr=0.02, betas=(0.8, 0.95), eps=1e-6,
                                      weight_decay=0.1), 0.05),
        ("sgd", "kind=sgd momentum=0.9 nesterov=1 weight-decay=0.01", 1,
         lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True,
                                    weight_decay=0.01), 0.0),
    ]
    failures = 0
    for label, options, accumulate, make, clip in configs:
        step_mlir = os.path.join(args.work, f"{name}.{label}.mlir")
        run([os.path.join(args.bin, "tailor-opt"), mlir,
             f"--tailor-peft=method=lora r={r} alpha={alpha} target=q$,v$",
             "--tailor-loss", "--tailor-autodiff",
             f"--tailor-optimizer={options}", "-o", step_mlir])
        compiled = tailor.load(tailor.compile(step_mlir, step_mlir[:-5] + ".so"))
        model, gen = frozen_llama(torch, generate, c)
        adapters, state = {}, {}
        for m in [f"blocks.{i}.{proj}" for i in range(c.layers) for proj in ("q", "v")]:
            lin = model.get_submodule(m)
            a = (0.1 * torch.randn(r, lin.in_features, generator=gen)).requires_grad_()
            b = (0.1 * torch.randn(lin.out_features, r, generator=gen)).requires_grad_()
            adapters[m + ".lora_A.weight"] = a
            adapters[m + ".lora_B.weight"] = b
            lin.register_forward_hook(
                lambda mod, inp, out, a=a, b=b: out + (alpha / r) * (inp[0] @ a.T @ b.T))
        for n, t in adapters.items():
            state[n] = t.detach().numpy().copy()
        for info in compiled.inputs:
            n = info["name"]
            if "." in n and n.split(".", 1)[1] in adapters and n not in adapters:
                state[n] = np.zeros(info["shape"], np.float32)
        opt = make(list(adapters.values()))
        rng = np.random.default_rng(7)
        bad, worst, lr = [], 0.0, opt.param_groups[0]["lr"]
        for step in range(1, 4):
            opt.zero_grad()
            for micro in range(accumulate):
                ids = rng.integers(0, c.vocab, size=(2, 10), dtype=np.int64)
                labels = ids.copy()
                labels[:, :3] = -100
                feeds = dict(state, input_ids=ids, labels=labels,
                             lr=np.float32(lr), step=np.float32(step))
                if accumulate > 1:
                    feeds["apply_update"] = np.bool_(micro == accumulate - 1)
                out = compiled.run(feeds)
                logits = model(torch.tensor(ids))
                ref = F.cross_entropy(logits[:, :-1].reshape(-1, c.vocab),
                                      torch.tensor(labels)[:, 1:].reshape(-1),
                                      ignore_index=-100)
                (ref / accumulate).backward()
                loss = float(np.asarray(out["loss"]))
                if abs(loss - ref.item()) > 1e-5 * abs(ref.item()):
                    bad.append(f"step {step}.{micro}: loss {loss} vs {ref.item()}")
                for n in state:
                    state[n] = np.asarray(out[n]).copy()
            norm = float(np.asarray(out["grad_norm"]))
            ref_norm = float(torch.nn.utils.clip_grad_norm_(
                list(adapters.values()), clip if clip else float("inf")))
            if abs(norm - ref_norm) > 1e-5 * ref_norm:
                bad.append(f"step {step}: grad_norm {norm} vs {ref_norm}")
            if clip and not ref_norm > clip:
                bad.append(f"step {step}: the norm {ref_norm} does not test clipping")
            opt.step()
            for n, t in adapters.items():
                refs = {n: t.detach().numpy()}
                st = opt.state[t]
                for k in ("exp_avg", "exp_avg_sq", "momentum_buffer"):
                    if k in st:
                        refs[f"{k}.{n}"] = st[k].numpy()
                for key, rv in refs.items():
                    err = np.abs(state[key] - rv).max() / max(np.abs(rv).max(), 1e-30)
                    worst = max(worst, err)
                    if not err <= args.rtol:
                        bad.append(f"step {step}: {key} {err:.2e}")
        if bad:
            failures += 1
            print(f"FAIL {name} {label}: " + "; ".join(bad[:6]))
        else:
            print(f"ok   {name} {label} ({options}): 3 steps x {accumulate} micro-batches, "
                  f"{len(state)} parameters and states, max relative error {worst:.1e}")
    return failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--python", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--rtol", type=float, default=1e-4)
    args = ap.parse_args()
    sys.path.insert(0, args.python)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import tailor  # noqa: E402 (the build's bindings)
    import torch  # noqa: E402
    import torch.nn.functional as F  # noqa: E402
    import generate  # noqa: E402 (the test models)
    os.makedirs(args.work, exist_ok=True)
    torch.set_num_threads(1)
    configs = generate.variants()
    failures = 0
    for name in ("llama-opset17", "gpt2-opset17"):
        family, c, opset, kv = configs[name]
        torch.manual_seed(0)
        model = generate.GPT2(c) if family == "gpt2" else generate.Llama(c)
        model.eval()
        # Distinct values everywhere: the exporter merges equal initializers
        # (every fresh LayerNorm weight is ones), which would tie them.
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.05 * torch.randn_like(p))
        onnx_path = os.path.join(args.work, name + ".onnx")
        generate.export_model(model, c, onnx_path, opset, kv)
        mlir = os.path.join(args.work, name + ".mlir")
        run([os.path.join(args.bin, "tailor-compile"), onnx_path, "--raise=false",
             "--compile-to=optimize", "--emit=mlir", "--mlir-print-debuginfo", "--quiet", "-o", mlir])
        for variant in ("onnx", "raised"):
            # ONNX-level ops, and the LLM ops tailor-raise makes of them
            # (attention, rotary, swiglu, gelu, norms: their own rules).
            raised = variant == "raised"
            grad = os.path.join(args.work, f"{name}.{variant}.grad.mlir")
            run([os.path.join(args.bin, "tailor-opt"), mlir, "--tailor-peft=exclude=_cached,^mask$"]
                + (["--tailor-raise"] if raised else []) + ["--tailor-loss", "--tailor-autodiff", "-o", grad])
            text = open(grad).read()
            ops = sorted(set(re.findall(r"tailor\.(attention|rotary|swiglu|silu|gelu|rms_norm|layer_norm|embedding|linear) ", text)))
            llm = ": " + ", ".join(ops) if ops else ""
            if raised and "attention" not in ops:
                failures += 1
                print(f"FAIL {name} (raised): tailor-raise made no tailor.attention")
            signature = text[text.index("func.func @"):text.index("{\n", text.index("func.func @"))]
            transposed = set(re.findall(r'onnx.name = "([^"]+)"[^}]*tailor.transposed', signature))
            compiled = tailor.load(tailor.compile(grad, grad[:-5] + ".so"))

            rng = np.random.default_rng(11)
            ids = rng.integers(0, c.vocab, size=(2, 12), dtype=np.int64)
            labels = ids.copy()
            labels[:, :4] = -100          # prompt tokens
            labels[1, 9:] = -100          # padding
            params = dict(model.named_parameters())
            feeds = {"input_ids": ids, "labels": labels}
            for info in compiled.inputs:
                n = info["name"]
                if n in feeds:
                    continue
                p = params.get(n)
                if p is None:
                    raise RuntimeError(f"{name}: trainable argument '{n}' is no PyTorch parameter")
                value = p.detach().numpy()
                feeds[n] = np.ascontiguousarray(value.T if n in transposed else value)
            out = compiled.run(feeds)

            model.zero_grad()
            logits = model(torch.tensor(ids))
            ref = F.cross_entropy(logits[:, :-1].reshape(-1, c.vocab),
                                  torch.tensor(labels)[:, 1:].reshape(-1), ignore_index=-100)
            ref.backward()
            loss = float(np.asarray(out["loss"]))
            bad = []
            if abs(loss - ref.item()) > 1e-5 * abs(ref.item()):
                bad.append(f"loss {loss} vs PyTorch {ref.item()}")
            worst, checked = 0.0, 0
            for n in feeds:
                if n in ("input_ids", "labels"):
                    continue
                g = np.asarray(out["grad." + n])
                r = params[n].grad.numpy()
                r = r.T if n in transposed else r
                err = np.abs(g - r).max() / max(np.abs(r).max(), 1e-30)
                worst = max(worst, err)
                checked += 1
                if not err <= args.rtol:
                    bad.append(f"d loss / d {n}: {err:.2e} of its largest magnitude")
            if bad:
                failures += 1
                print(f"FAIL {name} ({variant}): " + "; ".join(bad))
            else:
                print(f"ok   {name} ({variant}{llm}): loss {loss:.6f} (PyTorch {ref.item():.6f}), {checked} weight "
                      f"gradients, max relative error {worst:.1e}")
        if family == "gpt2":
            failures += check_bitfit(args, tailor, name, mlir, feeds, params, loss)
    failures += check_lora(args, tailor, torch, F, generate)
    failures += check_dora(args, tailor, torch, F, generate)
    failures += check_lora_fa(args, tailor)
    failures += check_ia3(args, tailor, torch, F, generate)
    failures += check_adapters(args, tailor, torch, F, generate)
    failures += check_prefix_prompt(args, tailor, torch, F, generate)
    failures += check_qlora(args, tailor, torch, F, generate)
    failures += check_optimizer(args, tailor, torch, F, generate)
    print("PASS" if not failures else f"FAIL ({failures})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
