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


NF4 = np.array([-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
                -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
                0.07958029955625534, 0.16093020141124725, 0.24611230194568634,
                0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
                0.7229568362236023, 1.0], dtype=np.float32)


def nf4_bnb(w_out_in, block):
    """bitsandbytes' quantize_4bit(quant_type="nf4", blocksize) and
    dequantize_4bit of PyTorch's [out, in] weight, in numpy: blocks of
    `block` consecutive elements, absmax per block, each element the index
    of the nearest NF4 value (torch.argmin: the first on ties) to
    clamp(w * (1 / absmax), -1, 1) in float32; NF4[index] * absmax."""
    flat = w_out_in.astype(np.float32).reshape(-1, block)
    absmax = np.abs(flat).max(axis=1, keepdims=True)
    scaled = np.clip(flat * (np.float32(1) / absmax), -1, 1)
    code = np.argmin(np.abs(scaled[..., None] - NF4), axis=-1)
    return (NF4[code] * absmax).reshape(w_out_in.shape)


def check_qlora(args, tailor, torch, F, generate, mode="int4"):
    """QLoRA's form: tailor-peft method=lora (r 4, alpha 8, q and v), the
    linears raised and their frozen weights quantized (int4 RTN, or NF4 as
    bitsandbytes quantizes it; groups / blocks of 32 rows, lm_head kept in
    float, tailor-quantize), loss, autodiff (the input gradient through
    the dequantized weight), against PyTorch with the same weights rounded
    the same way (a numpy copy of the RTN rule / of bitsandbytes' NF4) and
    the same LoRA branches."""
    name = "llama-opset17"
    family, c, opset, kv = generate.variants()[name]
    mlir = os.path.join(args.work, name + ".mlir")  # from main()'s export
    grad = os.path.join(args.work, f"{name}.qlora-{mode}.mlir")
    r, alpha, group = 4, 8.0, 32
    run([os.path.join(args.bin, "tailor-opt"), mlir,
         f"--tailor-peft=method=lora r={r} alpha={alpha} target=q$,v$", "--tailor-raise",
         f"--tailor-quantize=mode={mode} group-size={group} exclude=lm_head embeddings=false",
         "--tailor-loss", "--tailor-autodiff", "-o", grad])
    text = open(grad).read()
    quantized = text.count("quant.scast" if mode == "int4" else "= tailor.nf4_dequantize")
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
                w = lin.weight.numpy()
                rounded = int4_rtn(w.T, group).T if mode == "int4" else nf4_bnb(w, group)
                lin.weight.copy_(torch.tensor(np.ascontiguousarray(rounded)))
    params = lora_hooks(torch, model, gen, c, r, alpha)
    # int4: one quant.scast per weight; nf4: one dequantization per weight
    # in the forward and another in the backward of each linear whose
    # input needs a gradient.
    expected = 7 * c.layers   # q k v o gate up down
    if quantized != expected if mode == "int4" else quantized < expected:
        print(f"FAIL {name} QLoRA ({mode}): {quantized} quantized weights, expected {expected}")
        return 1
    return run_peft_check(args, compiled, model, c, F, torch, params,
                          f"{name} QLoRA (LoRA r={r} on q, v over {7 * c.layers} {mode} weights, "
                          f"groups of {group}; {quantized} dequantizations)")


def run_peft_check(args, compiled, model, c, F, torch, params, what, ids=None, labels=None,
                   extra=None):
    """Feeds `params` (name -> PyTorch leaf) to the compiled step; the loss
    and each gradient against PyTorch's forward and autograd (`extra()`: a
    regulariser added to PyTorch's loss)."""
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
    if extra is not None:
        ref = ref + extra()
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


def adalora_hooks(torch, model, gen, c, r, alpha, e_std):
    """PEFT's AdaLoRA SVDLinear on the q and v projections (forward hooks:
    y += (x (A * E)^T B^T) * scaling / (r + 1e-5)); A, B normal(0, 0.02),
    E normal(0, e_std) (0: zeros, PEFT's initialisation); the leaves by
    PEFT's names, and the orthogonality regulariser of AdaLoraModel.forward
    (mean over the factors of ||A A^T - I||_F, ||B^T B - I||_F)."""
    params = {}
    ranknum = torch.tensor(float(r)) + 1e-5
    for m in [f"blocks.{i}.{proj}" for i in range(c.layers) for proj in ("q", "v")]:
        lin = model.get_submodule(m)
        a = (0.02 * torch.randn(r, lin.in_features, generator=gen)).requires_grad_()
        e = (e_std * torch.randn(r, 1, generator=gen)).requires_grad_()
        b = (0.02 * torch.randn(lin.out_features, r, generator=gen)).requires_grad_()
        params[m + ".lora_A"], params[m + ".lora_E"], params[m + ".lora_B"] = a, e, b
        lin.register_forward_hook(
            lambda mod, inp, out, a=a, e=e, b=b:
                out + (inp[0] @ (a * e).T @ b.T) * alpha / ranknum)

    def orth():
        total, count = 0, 0
        for n, p in params.items():
            if n.endswith(".lora_E"):
                continue
            cov = p @ p.T if n.endswith(".lora_A") else p.T @ p
            total = total + torch.norm(cov - torch.eye(*cov.size()), p="fro")
            count += 1
        return total / count
    return params, orth


class PeftRankAllocator:
    """PEFT's RankAllocator (tuners/adalora/layer.py) and
    AdaLoraModel.update_and_allocate (model.py), transcribed: the
    reference tailor.RankAllocator is checked against."""

    def __init__(self, torch, params, init_r, target_r, tinit, tfinal, delta_t, total, beta1, beta2):
        self.torch, self.params = torch, params
        self.init_r, self.tinit, self.tfinal, self.delta_t = init_r, tinit, tfinal, delta_t
        self.total, self.beta1, self.beta2 = total, beta1, beta2
        self.modules = sorted({n.rsplit(".lora_", 1)[0] for n in params})
        self.init_bgt = init_r * len(self.modules)
        self.target_bgt = target_r * len(self.modules)
        self.ipt, self.exp_avg_ipt, self.exp_avg_unc = {}, {}, {}
        self.rank_pattern = None

    def budget_schedule(self, step):
        if step <= self.tinit:
            return self.init_bgt, False
        if step > self.total - self.tfinal:
            return self.target_bgt, True
        mul_coeff = 1 - (step - self.tinit) / (self.total - self.tfinal - self.tinit)
        budget = int((self.init_bgt - self.target_bgt) * (mul_coeff ** 3) + self.target_bgt)
        return budget, step % self.delta_t == 0

    def update_ipt(self):
        for n, p in self.params.items():
            if n not in self.ipt:
                self.ipt[n] = self.torch.zeros_like(p)
                self.exp_avg_ipt[n] = self.torch.zeros_like(p)
                self.exp_avg_unc[n] = self.torch.zeros_like(p)
            with self.torch.no_grad():
                self.ipt[n] = (p * p.grad).abs().detach()
                self.exp_avg_ipt[n] = self.beta1 * self.exp_avg_ipt[n] + (1 - self.beta1) * self.ipt[n]
                self.exp_avg_unc[n] = (self.beta2 * self.exp_avg_unc[n]
                                       + (1 - self.beta2) * (self.ipt[n] - self.exp_avg_ipt[n]).abs())

    def mask_to_budget(self, budget):
        torch, triplet, scores = self.torch, {}, []
        for m in self.modules:
            s = {t: self.exp_avg_ipt[f"{m}.lora_{t}"] * self.exp_avg_unc[f"{m}.lora_{t}"]
                 for t in "AEB"}
            ipt_ab = torch.cat([torch.mean(s["A"], dim=1, keepdim=True),
                                torch.mean(s["B"], dim=0, keepdim=False).view(-1, 1)], dim=1)
            triplet[m] = s["E"].view(-1) + ipt_ab.sum(dim=1).view(-1)
            scores.append(triplet[m])
        threshold = torch.kthvalue(torch.cat(scores), k=self.init_bgt - budget)[0].item()
        pattern = {}
        with torch.no_grad():
            for m in self.modules:
                keep = ~(triplet[m] <= threshold)
                self.params[f"{m}.lora_E"].masked_fill_(~keep.view(-1, 1), 0.0)
                pattern[f"{m}.lora_E"] = keep.tolist()
        return pattern

    def update_and_allocate(self, step):
        if step < self.total - self.tfinal:
            self.update_ipt()
            budget, mask = self.budget_schedule(step)
            if mask:
                self.rank_pattern = self.mask_to_budget(budget)
        elif step == self.total - self.tfinal:
            self.rank_pattern = self.mask_to_budget(self.budget_schedule(step)[0])
            self.ipt, self.exp_avg_ipt, self.exp_avg_unc = {}, {}, {}
        else:
            with self.torch.no_grad():
                for n, keep in self.rank_pattern.items():
                    self.params[n].masked_fill_(~self.torch.tensor(keep).view(-1, 1), 0.0)


def check_adalora(args, tailor, torch, F, generate):
    """AdaLoRA. (a) tailor-peft method=adalora (r 4, alpha 8, q and v) +
    loss (with the orthogonality regulariser) + autodiff against PyTorch
    with PEFT's SVDLinear forward and regulariser (E random, so that every
    factor has a gradient). (b) Ten AdamW steps of the compiled step
    (tailor-optimizer return-grads) with tailor.RankAllocator (tailor-
    train's rank allocation: init_r 4 -> target_r 2, tinit 1, tfinal 3,
    deltaT 2, PEFT's initialisation) against torch.optim.AdamW and a
    transcription of PEFT's RankAllocator: every loss, the rank pattern after
    every step and the final parameters."""
    name = "llama-opset17"
    family, c, opset, kv = generate.variants()[name]
    mlir = os.path.join(args.work, name + ".mlir")  # from main()'s export
    r, alpha, weight = 4, 8.0, 0.5
    peft = f"--tailor-peft=method=adalora r={r} alpha={alpha} target=q$,v$ orth-reg-weight={weight}"
    grad = os.path.join(args.work, name + ".adalora.mlir")
    run([os.path.join(args.bin, "tailor-opt"), mlir, peft, "--tailor-raise",
         "--tailor-loss", "--tailor-autodiff", "-o", grad])
    compiled = tailor.load(tailor.compile(grad, grad[:-5] + ".so"))
    model, gen = frozen_llama(torch, generate, c)
    params, orth = adalora_hooks(torch, model, gen, c, r, alpha, 0.1)
    failures = run_peft_check(args, compiled, model, c, F, torch, params,
                              f"{name} AdaLoRA r={r} on q, v (+ {weight} x orthogonality)",
                              extra=lambda: weight * orth())

    # (b) the rank allocation over ten steps.
    total, lr = 10, 0.01
    sched = dict(init_r=r, target_r=2, tinit=1, tfinal=3, delta_t=2, total_step=total,
                 beta1=0.85, beta2=0.85)
    step_mlir = os.path.join(args.work, name + ".adalora-step.mlir")
    run([os.path.join(args.bin, "tailor-opt"), mlir, peft, "--tailor-raise", "--tailor-loss",
         "--tailor-autodiff", "--tailor-optimizer=kind=adamw return-grads=.*", "-o", step_mlir])
    compiled = tailor.load(tailor.compile(step_mlir, step_mlir[:-5] + ".so"))
    model, gen = frozen_llama(torch, generate, c)
    params, orth = adalora_hooks(torch, model, gen, c, r, alpha, 0.0)
    state = {n: t.detach().numpy().copy() for n, t in params.items()}
    for n in params:
        state["exp_avg." + n] = np.zeros(params[n].shape, np.float32)
        state["exp_avg_sq." + n] = np.zeros(params[n].shape, np.float32)
    mats = []
    for n, t in params.items():
        if n.endswith(".lora_A"):
            module = n[:-len(".lora_A")]
            mats.append((module, t.shape[1], params[module + ".lora_B"].shape[0]))
    alloc = tailor.RankAllocator(mats, **sched)
    opt = torch.optim.AdamW(list(params.values()), lr=lr, weight_decay=0.0)
    ref = PeftRankAllocator(torch, params, r, sched["target_r"], sched["tinit"], sched["tfinal"],
                            sched["delta_t"], total, 0.85, 0.85)
    rng = np.random.default_rng(13)
    bad, budgets, masked_steps = [], [], 0
    for step in range(total):
        ids = rng.integers(0, c.vocab, size=(2, 10), dtype=np.int64)
        labels = ids.copy()
        labels[:, :3] = -100
        out = compiled.run(dict(state, input_ids=ids, labels=labels, lr=np.float32(lr),
                                step=np.float32(step + 1)))
        for n in state:
            state[n] = np.array(out[n], dtype=np.float32, copy=True)
        grads = {n: np.ascontiguousarray(out["grad." + n], dtype=np.float32) for n in params}
        budgets.append(alloc.update(step, state, grads))
        opt.zero_grad()
        logits = model(torch.tensor(ids))
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, c.vocab),
                               torch.tensor(labels)[:, 1:].reshape(-1),
                               ignore_index=-100) + weight * orth()
        loss.backward()
        opt.step()
        ref.update_and_allocate(step)
        got = float(np.asarray(out["loss"]))
        if abs(got - loss.item()) > 1e-5 * abs(loss.item()):
            bad.append(f"step {step}: loss {got} vs {loss.item()}")
        if alloc.rank_pattern != ref.rank_pattern:
            bad.append(f"step {step}: rank pattern {alloc.rank_pattern} vs PEFT's {ref.rank_pattern}")
        if ref.rank_pattern is not None:
            masked_steps += 1
    worst = 0.0
    for n, t in params.items():
        rv = t.detach().numpy()
        err = np.abs(state[n] - rv).max() / max(np.abs(rv).max(), 1e-30)
        worst = max(worst, err)
        if not err <= args.rtol:
            bad.append(f"{n} after {total} steps: {err:.2e}")
    kept = sum(sum(k) for k in (alloc.rank_pattern or {}).values())
    if kept != len(mats) * sched["target_r"]:
        bad.append(f"{kept} rank slots kept at the end, expected the target budget "
                   f"{len(mats) * sched['target_r']}")
    if bad:
        print(f"FAIL {name} AdaLoRA rank allocation: " + "; ".join(bad[:6]))
        return failures + 1
    print(f"ok   {name} AdaLoRA rank allocation: {total} AdamW steps, budgets {budgets}, "
          f"rank patterns equal to PEFT's at every step ({masked_steps} with one), "
          f"{len(params)} parameters within {worst:.1e}")
    return failures


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
    failures += check_qlora(args, tailor, torch, F, generate, mode="nf4")
    failures += check_adalora(args, tailor, torch, F, generate)
    failures += check_optimizer(args, tailor, torch, F, generate)
    print("PASS" if not failures else f"FAIL ({failures})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
